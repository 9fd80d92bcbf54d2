#!/usr/bin/env bash
# The benchmark, from a fresh machine: installs redis-server if missing, then
# runs every scenario once (tokengate-bench starts and stops its own
# throwaway redis-server) and writes benches/RESULTS.md.
# Settings: BENCH_DURATION, BENCH_WARMUP, ... (see benches/src/main.rs).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v redis-server >/dev/null 2>&1; then
  echo "bench.sh: installing redis-server" >&2
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server
  else
    echo "bench.sh: redis-server is missing; install it (apt-get install redis-server)" >&2
    exit 1
  fi
fi

exec cargo run --release --locked -p tokengate-bench
