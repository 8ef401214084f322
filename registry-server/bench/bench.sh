#!/usr/bin/env bash
# Compares wtool-registry with the reference warg-server 0.10 on this machine:
# publish latency, 18 MB download throughput, fetch/logs and content requests per second and
# p99 latency with 64 concurrent clients, and server peak memory (VmHWM).
#
# Usage: registry-server/bench/bench.sh [scratch dir]
# Knobs: BENCH_PUBLISHES (10), BENCH_SECONDS (10), BENCH_BIG_MB (18), WTOOL_REGISTRY_BIN and
# BENCH_DRIVER (use existing binaries instead of a release build), BENCH_PIN=1 (run each server
# on CPU 0 and the driver on CPU 1, so that the driver cannot take the server's CPU time).
# warg-server is installed with `cargo install --locked` into the scratch dir, never the repo.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
scratch="${1:-${TMPDIR:-/tmp}/wtool-registry-bench}"
mkdir -p "$scratch"
target="${CARGO_TARGET_DIR:-$repo/target}"

source "$here/common.sh"
release_binaries bench BENCH_DRIVER

if [ ! -x "$scratch/warg/bin/warg-server" ]; then
  echo "== installing warg-server 0.10 into $scratch/warg" >&2
  cargo install warg-server --version 0.10.0 --locked --root "$scratch/warg"
fi
warg_server="$scratch/warg/bin/warg-server"

wait_up() { for _ in $(seq 1 100); do curl -sf "$1v1/fetch/checkpoint" >/dev/null && return 0; sleep 0.1; done; echo "server at $1 did not start" >&2; return 1; }

# --- wtool-registry
start_wtool_registry --max-content-bytes 104857600
url="http://127.0.0.1:$port/"
wait_up "$url"
measure wtool-registry "$pid" "$url" "$token" example

# --- warg-server (in-memory store, 5 s checkpoint tick)
ref="$scratch/warg-data"
rm -rf "$ref"; mkdir -p "$ref/content"
printf '%s' 'ecdsa-p256:I+UlDo0HxyBBFeelhPPWmD+LnklOpqZDkrFP5VduASk=' > "$ref/operator.key"
port="$(free_port)"
url="http://127.0.0.1:$port/"
"${server_cpu[@]}" "$warg_server" --listen "127.0.0.1:$port" --content-dir "$ref/content" \
  --operator-key-file "$ref/operator.key" --namespace example >/dev/null 2>&1 &
pid=$!
wait_up "$url"
echo "== warg-server's publishes wait for its 5 s checkpoint tick" >&2
measure warg-server "$pid" "$url" - example

table "$(cat <<'PY'
line("publish p50 / max (ms)", lambda r: f'{r["result"]["publish_ms"]["p50"]:.0f} / {r["result"]["publish_ms"]["max"]:.0f}')
big = os.environ.get("BENCH_BIG_MB", "18")
line(f"publish {big} MB (ms)", lambda r: f'{r["result"]["publish_18mb_ms"]:.0f}')
line(f"download {big} MB (MB/s, best of 3)", lambda r: f'{max(r["result"]["download_mb_per_s"]):.0f}')
line("fetch/logs, 64 clients (req/s, p99 ms)", lambda r: f'{r["result"]["fetch_logs"]["requests_per_second"]:.0f}, {r["result"]["fetch_logs"]["p99_ms"]:.1f}')
line("content, 64 clients (req/s, p99 ms)", lambda r: f'{r["result"]["content_sources"]["requests_per_second"]:.0f}, {r["result"]["content_sources"]["p99_ms"]:.1f}')
line("reqwest client ceiling: 64 clients on `/healthz` (req/s)", lambda r: f'{r["result"]["client_ceiling"]["requests_per_second"]:.0f}')
line("fetch/logs, 64 raw keep-alive connections (req/s, p99 ms)", lambda r: f'{r["result"]["fetch_logs_raw"]["requests_per_second"]:.0f}, {r["result"]["fetch_logs_raw"]["p99_ms"]:.1f}')
line("content, 64 raw keep-alive connections (req/s, p99 ms)", lambda r: f'{r["result"]["content_sources_raw"]["requests_per_second"]:.0f}, {r["result"]["content_sources_raw"]["p99_ms"]:.1f}')
PY
)"
