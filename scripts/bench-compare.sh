#!/usr/bin/env bash
# Per-request cost, this working tree against another commit, in one run:
#
#   scripts/bench-compare.sh <commit> [rounds] [seconds]
#
# Builds the example `axum-app` (release) at <commit> (in a temporary git
# worktree, its own target directory) and at the working tree, starts both
# on one throwaway redis-server (each under its own key prefix), signs one
# user in on each (API key → custom token → exchange: each app its own
# credential), then alternates `wrk` rounds (1 thread, 64 connections,
# <seconds> each, default 4; <rounds> rounds, default 6) over both apps and
# two routes: `/me` (the session looked up in Redis, no cache) and `/public`
# (no session asked for). Prints, per route, the requests per second of
# each and the ratio working tree / <commit> of every round, with median,
# min and max, and appends the same block to benches/RESULTS.md
# (BENCH_COMPARE_RECORD=0: print only).
#
# Run it before resolving any change that touches the request path. A
# timed test is not the place for this: CI machines are shared and noisy;
# the ratio of interleaved rounds in one run is.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
base="${1:?usage: $0 <commit> [rounds] [seconds]}"
rounds="${2:-6}"
seconds="${3:-4}"
base_sha="$(git rev-parse --short "$base^{commit}")"
head_sha="$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . ':!benches/RESULTS.md' || echo '+changes')"

command -v wrk >/dev/null 2>&1 || {
  echo "bench-compare: installing wrk" >&2
  if [ "$(id -u)" = 0 ]; then apt-get install -y -qq wrk >/dev/null; else sudo -n apt-get install -y -qq wrk >/dev/null; fi
}
command -v redis-server >/dev/null 2>&1 || { echo "bench-compare: redis-server is missing (apt-get install redis-server)" >&2; exit 1; }

work="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  # The apps were started in command substitutions: found by their path.
  pkill -f "$work/axum-app-" 2>/dev/null || true
  wait 2>/dev/null || true
  git -C "$root" worktree remove --force "$work/base" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "== building axum-app at $base_sha (worktree) and at the working tree ($head_sha)"
git worktree add --detach "$work/base" "$base" >/dev/null
(cd "$work/base" && CARGO_TARGET_DIR="$root/target/bench-compare" cargo build --release --quiet -p tokengate-examples --bin axum-app)
cp "$root/target/bench-compare/release/axum-app" "$work/axum-app-base"
cargo build --release --quiet -p tokengate-examples --bin axum-app
cp "$root/target/release/axum-app" "$work/axum-app-head"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
redis_port="$(free_port)"
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --daemonize no >"$work/redis.log" 2>&1 &
pids+=("$!")
for _ in $(seq 50); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done

secret="$(python3 -c 'import secrets; print(secrets.token_hex(32))')"
api_key="bench-compare-api-key-0123456789"
start_app() { # name binary
  local port
  port="$(free_port)"
  REDIS_URL="redis://127.0.0.1:$redis_port" TOKENGATE_LISTEN="127.0.0.1:$port" TOKENGATE_PREFIX="bc-$1" \
    TOKENGATE_SECRET="$secret" TOKENGATE_API_KEY="$api_key" RUST_LOG=warn \
    "$2" >"$work/$1.log" 2>&1 &
  pids+=("$!")
  for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/public" >/dev/null 2>&1 && break; sleep 0.1; done
  curl -fs "http://127.0.0.1:$port/public" >/dev/null || { cat "$work/$1.log" >&2; echo "bench-compare: $1 did not start" >&2; exit 1; }
  echo "$port"
}
sign_in() { # port -> the session credential
  local token
  token="$(curl -fs -X POST "http://127.0.0.1:$1/v1/users/bench-user/tokens" -H "X-Appwrite-Key: $api_key" \
    -H 'Content-Type: application/json' -d '{}')"
  local secret_of
  secret_of="$(python3 -c 'import json,sys; print(json.load(sys.stdin)["secret"])' <<<"$token")"
  curl -fs -D - -o /dev/null -X POST "http://127.0.0.1:$1/v1/account/sessions/token" \
    -H 'Content-Type: application/json' -d "{\"userId\":\"bench-user\",\"secret\":\"$secret_of\"}" |
    python3 -c 'import sys,re; print(next(re.search(r"=([^;]+)", l).group(1) for l in sys.stdin if l.lower().startswith("set-cookie: a_session_") and "legacy" not in l.lower()))'
}
base_port="$(start_app base "$work/axum-app-base")"
head_port="$(start_app head "$work/axum-app-head")"
base_cred="$(sign_in "$base_port")"
head_cred="$(sign_in "$head_port")"
for pair in "$base_port $base_cred" "$head_port $head_cred"; do
  set -- $pair
  code="$(curl -s -o /dev/null -w '%{http_code}' -H "X-Appwrite-Session: $2" "http://127.0.0.1:$1/me")"
  [ "$code" = 200 ] || { echo "bench-compare: /me answered $code on port $1" >&2; exit 1; }
done

rate() { # port credential path -> requests per second
  wrk -t1 -c64 -d"${seconds}s" -H "X-Appwrite-Session: $2" "http://127.0.0.1:$1$3" |
    awk '/^Requests\/sec/ {print $2}'
}
echo "== $rounds rounds of ${seconds} s per app and route, alternating (wrk -t1 -c64)"
declare -A results
for round in $(seq "$rounds"); do
  for path in /me /public; do
    # Alternate which app goes first, so that neither always runs warmer.
    if [ $((round % 2)) = 1 ]; then order="base head"; else order="head base"; fi
    for app in $order; do
      if [ "$app" = base ]; then r="$(rate "$base_port" "$base_cred" "$path")"; else r="$(rate "$head_port" "$head_cred" "$path")"; fi
      results["$app$path$round"]="$r"
    done
    echo "round $round $path: $base_sha ${results[base$path$round]}/s, working tree ${results[head$path$round]}/s"
  done
done

report="$(
  echo "### bench-compare: working tree ($head_sha) against $base_sha"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, \`scripts/bench-compare.sh $base $rounds $seconds\`: axum-app (release) on one redis-server, \`wrk -t1 -c64 -d${seconds}s\` per round, the apps alternating."
  echo
  echo "| route | $base_sha req/s (median) | working tree req/s (median) | ratio per round | median | min | max |"
  echo "|---|---:|---:|---|---:|---:|---:|"
  for path in /me /public; do
    python3 - "$path" "$rounds" <<PY
import statistics, sys
path, rounds = sys.argv[1], int(sys.argv[2])
base = [float(x) for x in "$(for i in $(seq "$rounds"); do echo -n "${results[base$path$i]} "; done)".split()]
head = [float(x) for x in "$(for i in $(seq "$rounds"); do echo -n "${results[head$path$i]} "; done)".split()]
ratios = [h / b for h, b in zip(head, base)]
print(f"| \`{path}\` | {statistics.median(base):,.0f} | {statistics.median(head):,.0f} | "
      + " ".join(f"{r:.2f}" for r in ratios)
      + f" | **{statistics.median(ratios):.3f}** | {min(ratios):.3f} | {max(ratios):.3f} |")
PY
  done
)"
echo
echo "$report"
if [ "${BENCH_COMPARE_RECORD:-1}" = 1 ]; then
  grep -q '^## Comparisons' benches/RESULTS.md 2>/dev/null ||
    printf '\n## Comparisons (scripts/bench-compare.sh)\n\nEach run of `scripts/bench-compare.sh`, appended.\n' >>benches/RESULTS.md
  printf '\n%s\n' "$report" >>benches/RESULTS.md
  echo "(appended to benches/RESULTS.md)"
fi
