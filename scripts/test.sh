#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what is missing,
# uses the Redis at TOKENGATE_TEST_REDIS_URL or 127.0.0.1:6379 if one answers
# (each test in its own random key prefix, never flushed), otherwise the
# harness starts a throwaway redis-server on a free port.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || need_apt+=(redis-tools)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need_apt+=(python3-venv)
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
[ -x /usr/bin/chromedriver ] || need_apt+=(chromium-driver)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "test.sh: installing ${need_apt[*]}" >&2
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
  else
    echo "test.sh: missing ${need_apt[*]}; install them (apt-get install ${need_apt[*]})" >&2
    exit 1
  fi
fi

echo "== format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== build (the HTTP suite spawns the example binaries)"
cargo build --workspace --bins --locked

echo "== tests (unit, doc, store contract, HTTP suite on both apps, flows, Appwrite SDK, login page in Chromium)"
cargo test --workspace --locked

# --- fuzz smoke run (hardening, issue 8) ------------------------------------
# Every cargo-fuzz target in fuzz/ (its own crate, excluded from the
# workspace) runs 20,000 inputs grown from its seed corpus in fuzz/corpus/
# into a scratch directory. cargo-fuzz comes from crates.io when missing. The
# one (stable) toolchain takes the -Z flags cargo-fuzz passes through
# RUSTC_BOOTSTRAP=1; no sanitizer (the core forbids unsafe code); a dev
# build, which is quicker to build and plenty for a smoke run. If this cannot
# build or a target finds a crash, the suite fails here: it is never skipped.
# Long runs: see fuzz/Cargo.toml.
echo "== fuzz smoke (cargo fuzz, 20,000 runs per target)"
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "test.sh: installing cargo-fuzz" >&2
  cargo install cargo-fuzz --locked
fi
fuzz_scratch="$(mktemp -d)"
fuzz_targets="$(cd fuzz && cargo fuzz list)"
[ -n "$fuzz_targets" ] || { echo "test.sh: no fuzz targets found in fuzz/" >&2; exit 1; }
(cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz build --dev --sanitizer none)
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

echo "== rustdoc"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked --quiet
echo "== all tests passed"
