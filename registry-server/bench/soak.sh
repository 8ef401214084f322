#!/usr/bin/env bash
# Soak: one minute of mixed load on a wtool-registry on loopback, with two kill -9 restarts in
# the middle. 64 readers mix warg fetch/logs, content downloads and OCI manifest and tag reads;
# 4 publishers release new versions throughout (bench/soak_driver.rs). Reports the errors
# outside and inside the restart windows, the request rate, p99 latency, whether every
# acknowledged publish is there at the end, and the last instance's RSS after its warm-up and
# at the end. Targets: no errors outside the restart windows, nothing acknowledged missing,
# RSS at the end within 10% of RSS after the warm-up.
#
# Usage: registry-server/bench/soak.sh [scratch dir]
# Knobs: BENCH_SECONDS (60), BENCH_RESTART_WINDOW_MS (3000), WTOOL_REGISTRY_BIN and
# BENCH_SOAK_DRIVER (existing binaries instead of a release build), BENCH_PIN=1.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
scratch="${1:-${TMPDIR:-/tmp}/wtool-registry-soak}"
mkdir -p "$scratch"
target="${CARGO_TARGET_DIR:-$repo/target}"
seconds="${BENCH_SECONDS:-60}"
export BENCH_SECONDS="$seconds"

source "$here/common.sh"
release_binaries soak BENCH_SOAK_DRIVER

rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
up() { for _ in $(seq 1 200); do curl -s -o /dev/null "http://127.0.0.1:$port/healthz" && return 0; sleep 0.05; done; echo "the server did not come back" >&2; return 1; }
serve_again() {
  RUST_LOG=warn "${server_cpu[@]}" "$wtool" serve --data-dir "$scratch/wtool-data" --listen "127.0.0.1:$port" >/dev/null 2>&1 &
  pid=$!
}

start_wtool_registry
up
"${driver_cpu[@]}" "$driver" "http://127.0.0.1:$port/" "$token" example > "$scratch/soak.json" &
driver_pid=$!
started=$(date +%s%3N)
: > "$scratch/kills"
third=$((seconds / 3))
for at in "$third" "$((2 * third))"; do
  wait_s=$((at - ($(date +%s%3N) - started) / 1000))
  [ "$wait_s" -le 0 ] || sleep "$wait_s"
  date +%s%3N >> "$scratch/kills"
  kill -9 "$pid"; wait "$pid" 2>/dev/null || true
  serve_again
  up
done
# The last instance: RSS every second from its start, after a warm-up of 5 s, and at the end.
: > "$scratch/rss"
( while kill -0 "$pid" 2>/dev/null; do echo "$(rss_kb "$pid" 2>/dev/null || echo 0)" >> "$scratch/rss"; sleep 1; done ) &
sampler=$!
sleep 5
warm_rss=$(rss_kb "$pid")
wait "$driver_pid"
end_rss=$(rss_kb "$pid")
kill "$sampler" 2>/dev/null || true
kill -TERM "$pid"; wait "$pid" 2>/dev/null || true

python3 - "$scratch/soak.json" "$scratch/kills" "$warm_rss" "$end_rss" "${BENCH_RESTART_WINDOW_MS:-3000}" "$(cut -d' ' -f1-3 /proc/loadavg)" "$scratch/rss" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
# Both clocks in Unix milliseconds: the driver's errors are counted from its own start.
kills = [int(l) - r["started_unix_ms"] for l in open(sys.argv[2]) if l.strip()]
warm, end, window = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
inside = [e for e in r["errors"] if any(k <= e[0] <= k + window for k in kills)]
outside = [e for e in r["errors"] if e not in inside]
print(f"{r['seconds']} s, kill -9 at {', '.join(str(k) for k in kills)} ms; load at end {sys.argv[6]}")
print()
print("| figure | value |")
print("|---|---|")
print(f"| requests | {r['requests']:,} ({r['requests_per_second']:,.0f}/s) |")
print(f"| p50 / p99 latency (ms) | {r['p50_ms']:.1f} / {r['p99_ms']:.1f} |")
print(f"| errors outside the restart windows ({window} ms each) | {len(outside)} |")
print(f"| errors inside them | {len(inside)} |")
print(f"| acknowledged publishes | {r['acknowledged_publishes']} |")
print(f"| acknowledged but missing at the end | {len(r['missing_after'])} |")
print(f"| last instance's RSS after warm-up / at the end (MB) | {warm/1024:.0f} / {end/1024:.0f} ({(end/warm - 1)*100:+.0f}%) |")
series = [int(l) for l in open(sys.argv[7]) if l.strip() and int(l) > 0]
print(f"| last instance's RSS every 5 s (MB) | {' '.join(f'{v/1024:.0f}' for v in series[::5])} |")
for e in outside[:10]:
    print(f"outside a window, at {e[0]} ms: {e[1]}", file=sys.stderr)
for m in r["missing_after"][:10]:
    print(f"missing: {m}", file=sys.stderr)
PY
