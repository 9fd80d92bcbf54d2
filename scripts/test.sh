#!/usr/bin/env bash
# The test suite, from a fresh machine: installs what is missing (as root,
# or through `sudo -n`; otherwise it says what to install and stops).
#
#   ./scripts/test.sh          every behavioural suite: unit, doc, the store
#                              contract on memory, Redis, Cluster and TLS, the
#                              HTTP suite on both apps, the Python, Node and
#                              Web SDKs, the browser tests (about 5 minutes
#                              from a fresh clone on 2 cores)
#   ./scripts/test.sh --full   the same, then the lints (clippy on the
#                              workspace and on each library's feature sets,
#                              rustdoc), the packaging dry run, the timing-leak
#                              measurement and the fuzz smoke run (what CI runs)
# Redis: every test process starts a throwaway redis-server on a free port;
# a Redis of your own is used only when TOKENGATE_TEST_REDIS_URL names it
# (each test then in its own random key prefix, never flushed; identity
# records have no TTL by design, so they stay there).
set -euo pipefail
cd "$(dirname "$0")/.."
full=false
case "${1:-}" in
  "") ;;
  --full) full=true ;;
  *) echo "usage: $0 [--full]" >&2; exit 2 ;;
esac
# Phase stamps, printed at the end of every run (also a failed one).
run_started=$SECONDS
phase_started=$SECONDS
phase_name=setup
stamps=()
phase() {
  stamps+=("$(printf '%-34s %4d s' "$phase_name" $((SECONDS - phase_started)))")
  phase_name="$1"
  phase_started=$SECONDS
  echo "== $1"
}
print_stamps() {
  stamps+=("$(printf '%-34s %4d s' "$phase_name" $((SECONDS - phase_started)))")
  echo "-- phase stamps ($([ "$full" = true ] && echo full || echo quick) run)"
  printf '%s\n' "${stamps[@]}"
  printf '%-34s %4d s\n' total $((SECONDS - run_started))
}
trap print_stamps EXIT
# One build from scratch per run, not a cache for edits: incremental data
# costs a fresh checkout time and saves nothing here.
export CARGO_INCREMENTAL=0

# --- what this machine needs, listed once -----------------------------------
need_apt=()
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || need_apt+=(redis-tools)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need_apt+=(python3-venv)
command -v node >/dev/null 2>&1 || need_apt+=(nodejs)
command -v npm >/dev/null 2>&1 || need_apt+=(npm)
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
[ -x /usr/bin/chromedriver ] || need_apt+=(chromium-driver)
need_cargo=()
if [ "$full" = true ]; then
  cargo fuzz --version >/dev/null 2>&1 || need_cargo+=(cargo-fuzz)
fi
if [ ${#need_apt[@]} -gt 0 ] || [ ${#need_cargo[@]} -gt 0 ]; then
  echo "test.sh: missing: ${need_apt[*]:-} ${need_cargo[*]:-}" >&2
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  install_line="sudo apt-get update && sudo apt-get install -y ${need_apt[*]}"
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "test.sh: no apt-get on this machine; install the equivalents of: ${need_apt[*]}" >&2
    exit 1
  elif [ "$(id -u)" = 0 ]; then
    as_root=()
  elif command -v sudo >/dev/null 2>&1 && sudo -n true >/dev/null 2>&1; then
    as_root=(sudo -n)
  else
    echo "test.sh: installing ${need_apt[*]} needs root (no password-less sudo here)." >&2
    echo "test.sh: install them once, then run this again:" >&2
    echo "  $install_line" >&2
    exit 1
  fi
  echo "test.sh: installing ${need_apt[*]}" >&2
  "${as_root[@]}" apt-get update -qq
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
fi
if [ ${#need_cargo[@]} -gt 0 ]; then
  echo "test.sh: installing ${need_cargo[*]} (cargo install, no root needed)" >&2
  cargo install --locked "${need_cargo[@]}"
fi
if [ -n "${TOKENGATE_TEST_REDIS_URL:-}" ] && [ "${TOKENGATE_TEST_REDIS_URL}" != spawn ]; then
  echo "test.sh: testing against TOKENGATE_TEST_REDIS_URL=${TOKENGATE_TEST_REDIS_URL} (keys stay there)" >&2
fi

# --- toolchain: the pinned one is the declared minimum ----------------------
# rust-toolchain.toml pins the compiler; Cargo.toml's rust-version says the
# same version, so the checked minimum is the one that is built with here.
rust_version="$(sed -n 's/^rust-version = "\(.*\)"$/\1/p' Cargo.toml)"
pinned="$(sed -n 's/^channel = "\(.*\)"$/\1/p' rust-toolchain.toml)"
active="$(rustc --version | awk '{print $2}')"
case "$pinned" in
  "$rust_version" | "$rust_version".*) ;;
  *) echo "test.sh: rust-toolchain.toml pins $pinned but Cargo.toml says rust-version = $rust_version" >&2; exit 1 ;;
esac
if [ "$active" != "$pinned" ]; then
  echo "test.sh: rustc is $active, rust-toolchain.toml pins $pinned (rustup toolchain install $pinned)" >&2
  exit 1
fi
echo "toolchain: rustc $active = rust-version $rust_version"
libs=(-p tokengate -p tokengate-events -p tokengate-testing -p tokengate-tower -p tokengate-actix)

phase "format"
cargo fmt --all -- --check

# The quick run builds what the suites need and nothing else: the bench
# crate (its peers: fred, a second redis client, actix-session) only in the
# full run, which also lints it.
if [ "$full" = true ]; then
  selection=(--workspace)
else
  selection=(--workspace --exclude tokengate-bench)
fi
phase "build (tests and the example binaries)"
# Every test target and the binaries the HTTP suite spawns, in one feature
# resolution (another selection would build much of the tree again).
cargo build "${selection[@]}" --bins --locked

echo "== tests (unit, doc, store contract, HTTP suite on both apps, flows, Appwrite SDK, login page in Chromium)"
# Every test target is built first, once, with the workspace's features
# (a narrower cargo selection would resolve other features and build much
# of the tree again). The three big suites of the tests crate spend most of
# their time waiting (on the example apps, throwaway Redis servers and
# clusters, browsers, SDK processes), so their binaries run side by side,
# each into its own log, printed whole when it fails; every other test
# binary, the doc tests, rustdoc and the fuzz build run meanwhile in front. Each suite starts its
# own services on free ports: they share nothing but the machine. A test
# binary runs as cargo runs it: from its package's directory.
# Browsers the tests start must all end (tests/src/browser.rs): the
# Chromium and chromedriver processes now running, to compare at the end.
browsers_running() { pgrep -f '^(/usr/lib/chromium/|/usr/bin/chromium|chromedriver|/usr/bin/chromedriver)' | sort || true; }
browsers_before="$(browsers_running)"
suite_logs="$(mktemp -d)"
cargo test "${selection[@]}" --locked --no-run --message-format=json-render-diagnostics >"$suite_logs/artifacts.json"
phase "tests"
python3 - "$suite_logs/artifacts.json" >"$suite_logs/binaries" <<'PY'
import json, os, sys
for line in open(sys.argv[1]):
    try:
        message = json.loads(line)
    except ValueError:
        continue
    if message.get("reason") == "compiler-artifact" and message.get("profile", {}).get("test") and message.get("executable"):
        target = message["target"]
        print("\t".join([target["name"], target["kind"][0], os.path.dirname(message["manifest_path"]), message["executable"]]))
PY
background_suites=" contract http redis_ops "
mapfile -t binaries <"$suite_logs/binaries"
suites=()
suite_pids=()
front=()
front_failed=()
# As cargo runs a test binary: from its package's directory; stdin closed,
# so that nothing a test starts can read the list being walked.
run_binary() { (cd "$1" && CARGO_MANIFEST_DIR="$1" "$2" </dev/null); }
for line in "${binaries[@]}"; do
  IFS=$'\t' read -r name kind dir executable <<<"$line"
  if [ "$kind" = test ] && [[ "$background_suites" == *" $name "* ]]; then
    run_binary "$dir" "$executable" >"$suite_logs/$name.log" 2>&1 &
    suites+=("$name")
    suite_pids+=("$!")
  else
    front+=("$line")
  fi
done
[ ${#suites[@]} = 3 ] || { echo "test.sh: expected the suites${background_suites}, found: ${suites[*]:-none}" >&2; exit 1; }
# Every test target the selected packages declare (cargo metadata) must
# have been built above and run below: none silently missing.
python3 - "${selection[@]}" >"$suite_logs/declared" <<'PY'
import json, subprocess, sys
excluded = set(a for i, a in enumerate(sys.argv) if i > 0 and sys.argv[i - 1] == "--exclude")
metadata = json.loads(subprocess.check_output(["cargo", "metadata", "--no-deps", "--format-version", "1", "--locked"]))
for package in metadata["packages"]:
    if package["name"] in excluded:
        continue
    for target in package["targets"]:
        kind = target["kind"][0]
        if target.get("test") and kind in ("lib", "bin", "test", "proc-macro"):
            print(target["name"] + "\t" + kind)
PY
built="$(cut -f1,2 "$suite_logs/binaries" | sort)"
if [ "$(sort "$suite_logs/declared")" != "$built" ]; then
  echo "test.sh: declared test targets and built test binaries differ:" >&2
  diff <(sort "$suite_logs/declared") <(echo "$built") >&2 || true
  exit 1
fi
echo "${#binaries[@]} test binaries (every declared test target): 3 suites side by side, ${#front[@]} in front"
front_ran=0
for line in "${front[@]}"; do
  IFS=$'\t' read -r name kind dir executable <<<"$line"
  echo "-- $name ($kind, ${dir#"$PWD"/})"
  if run_binary "$dir" "$executable" >"$suite_logs/front.log" 2>&1; then
    front_ran=$((front_ran + 1))
    grep -E '^test result' "$suite_logs/front.log" || { echo "test.sh: $name printed no test result" >&2; front_failed+=("$name"); }
  else
    cat "$suite_logs/front.log"
    front_failed+=("$name")
  fi
done
cargo test "${selection[@]}" --locked --doc || front_failed+=(doc-tests)
if [ "$full" = true ]; then
  # The rest of the compiling, while the suites wait: the API docs, and
  # the fuzz targets (their own crate and target directory; run below).
  echo "== rustdoc (while the suites run)"
  # Afresh: the core's shape is counted from these pages below.
  rm -rf "${CARGO_TARGET_DIR:-target}/doc/tokengate"
  RUSTDOCFLAGS="-D warnings" cargo doc "${libs[@]}" -p tokengate-examples --no-deps --locked --quiet ||
    front_failed+=(rustdoc)
  echo "== fuzz targets built (while the suites run)"
  fuzz_targets="$(cd fuzz && cargo fuzz list)"
  (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz build --dev --sanitizer none) || front_failed+=(fuzz-build)
fi
for i in "${!suites[@]}"; do
  suite="${suites[$i]}"
  if wait "${suite_pids[$i]}"; then
    echo "suite $suite: $(grep -E '^test result' "$suite_logs/$suite.log" | tail -n 1)"
  else
    echo "== suite $suite FAILED; its log:" >&2
    cat "$suite_logs/$suite.log" >&2
    front_failed+=("$suite")
  fi
done
rm -rf "$suite_logs"
echo "front binaries run: $front_ran of ${#front[@]} passed"
left_running="$(comm -13 <(echo "$browsers_before") <(browsers_running) | paste -sd, -)"
if [ -n "$left_running" ]; then
  echo "test.sh: browser processes the tests started are still running:" >&2
  ps -o pid=,args= -p "$left_running" 2>/dev/null | cut -c1-160 >&2 || true
  front_failed+=(browsers-left-running)
fi
if [ ${#front_failed[@]} -gt 0 ]; then
  echo "test.sh: tests failed in: ${front_failed[*]}" >&2
  exit 1
fi
if [ "$full" = false ]; then
  echo "== all behavioural suites passed (./scripts/test.sh --full adds lints, packaging, timing leaks and fuzzing)"
  exit 0
fi

# The core's shape (issue 25): no module cycle, no file over 500 lines, at
# most 50 public types.
phase "core shape"
python3 scripts/core-shape.py --public-types "${CARGO_TARGET_DIR:-target}/doc/tokengate"

phase "lints (workspace, every target)"
cargo clippy --workspace --all-targets --locked -- -D warnings
# The libraries alone (resolver 2: no feature of another member leaks in),
# with no optional feature and with all of them (what docs.rs builds).
phase "lints (libraries: no features, all)"
cargo clippy "${libs[@]}" --no-default-features --locked -- -D warnings
cargo clippy "${libs[@]}" --all-features --locked -- -D warnings

# Packaging, as crates.io would receive the crates (--dry-run: nothing is
# uploaded; --allow-dirty: also on a working tree with changes). The
# adapters need `tokengate` from a registry, where it is not yet: packaged
# in one call with the core, they resolve it from the package made beside
# them. The tarballs are not built again (--no-verify): they hold the
# sources linted above in every feature set; instead the core's file list
# is checked for what its code includes (Lua scripts, README).
phase "publish dry run"
cargo publish --dry-run --locked --allow-dirty --no-verify "${libs[@]}"
core_files="$(cargo package --locked --allow-dirty --no-verify --list -p tokengate)"
for included in README.md $(cd core && ls src/store/redis/lua/*.lua) LICENSE-MIT LICENSE-APACHE; do
  grep -qx "$included" <<<"$core_files" || { echo "test.sh: the tokengate package lacks $included" >&2; exit 1; }
done
events_files="$(cargo package --locked --allow-dirty --no-verify --list -p tokengate-events)"
for included in README.md $(cd events && ls src/redis/lua/*.lua); do
  grep -qx "$included" <<<"$events_files" || { echo "test.sh: the tokengate-events package lacks $included" >&2; exit 1; }
done

# Constant time, measured: a dudect-style Welch t-test of credential
# verification, API-key comparison and token redemption (memory and a
# throwaway Redis), with positive controls that must be detected; any leak
# fails the run. The debug build from above, at 0.3 × the default sample
# counts (45-90 s here; at 0.15 the Redis control once stood at |t| = 15.7,
# too near the threshold of 10 to be a reliable check); the release build
# with the full counts:
# `cargo run --release -p tokengate-bench --bin timing-leaks`.
phase "timing leaks (dudect-style t-test)"
# The binary from the workspace build above: `cargo run -p tokengate-bench`
# would resolve the core's features for that package alone and build the
# core and its dependents a second time (about a minute here).
TIMING_LEAKS_SCALE=0.3 "${CARGO_TARGET_DIR:-target}/debug/timing-leaks"

# --- fuzz smoke run (hardening, issue 8) ------------------------------------
# Every cargo-fuzz target in fuzz/ (its own crate, excluded from the
# workspace) runs 20,000 inputs grown from its seed corpus in fuzz/corpus/
# into a scratch directory. cargo-fuzz comes from crates.io when missing. The
# one (stable) toolchain takes the -Z flags cargo-fuzz passes through
# RUSTC_BOOTSTRAP=1; no sanitizer (the core forbids unsafe code); a dev
# build, which is quicker to build and plenty for a smoke run. If the targets
# cannot build (above, beside the suites) or one finds a crash, the suite
# fails: it is never skipped.
# Long runs: see fuzz/Cargo.toml.
phase "fuzz smoke (20,000 runs per target)"
fuzz_scratch="$(mktemp -d)"
[ -n "$fuzz_targets" ] || { echo "test.sh: no fuzz targets found in fuzz/" >&2; exit 1; }
for target in $fuzz_targets; do
  mkdir -p "$fuzz_scratch/$target"
  if ! (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run --dev --sanitizer none "$target" \
      "$fuzz_scratch/$target" "corpus/$target" -- -runs=20000 -print_final_stats=1 \
      >"$fuzz_scratch/$target.log" 2>&1); then
    tail -n 60 "$fuzz_scratch/$target.log" >&2
    echo "test.sh: fuzz target $target failed (artifacts in fuzz/artifacts/$target)" >&2
    exit 1
  fi
  echo "fuzz $target: $(grep -E '^stat::number_of_executed_units' "$fuzz_scratch/$target.log" | tr -s ' ')"
done
rm -rf "$fuzz_scratch"
# ------------------------------------------------------------------------------

echo "== all tests passed"
