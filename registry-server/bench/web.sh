#!/usr/bin/env bash
# The package browser with many packages: seeds a fresh wtool-registry with 1,000 WIT packages
# (every 50th with twelve versions) through the real warg client, then reads each kind of page,
# as HTML and as JSON, and prints the server's own time per page (its `Server-Timing` header)
# and the round trip, first render and cached.
#
# Usage: registry-server/bench/web.sh [scratch dir]
# Knobs: BENCH_PACKAGES (1000), BENCH_REQUESTS (200 reads per page), BENCH_WORKERS (8
# publishers), WTOOL_REGISTRY_BIN and BENCH_WEB_DRIVER (existing binaries instead of a release
# build), BENCH_PIN=1 (server on CPU 0, driver on CPU 1).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
scratch="${1:-${TMPDIR:-/tmp}/wtool-registry-web-bench}"
mkdir -p "$scratch"
target="${CARGO_TARGET_DIR:-$repo/target}"

source "$here/common.sh"
release_binaries web_bench BENCH_WEB_DRIVER

start_wtool_registry
for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.1; done
measure wtool-registry "$pid" "http://127.0.0.1:$port/" "$token" example

python3 - "$results" <<'PY'
import json, sys
row = json.loads(open(sys.argv[1]).readline())
r = row["result"]
print(f"{r['packages']} packages, {r['records']} releases, seeded in {r['seed_seconds']:.1f} s; "
      f"{r['requests_per_page']} reads per page; server peak RSS {row['peak_rss_kb']/1024:.0f} MB; "
      f"load {row['load_at_start']}")
print()
print("| page | format | status | bytes | first render (ms) | cached p50 / p99 (ms) | round trip p50 / p99 (ms) |")
print("|---|---|---|---|---|---|---|")
for p in r["pages"]:
    print(f"| {p['page']} | {p['format']} | {p['status']} | {p['bytes']:,} | {p['first_server_ms']:.2f} | "
          f"{p['cached_server_p50_ms']:.3f} / {p['cached_server_p99_ms']:.3f} | "
          f"{p['round_trip_p50_ms']:.2f} / {p['round_trip_p99_ms']:.2f} |")
PY
