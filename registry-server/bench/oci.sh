#!/usr/bin/env bash
# Compares wtool-registry's OCI front end with Debian's docker-registry (CNCF distribution 2.8)
# on this machine, with one driver (bench/oci_driver.rs, through oci-client as wkg pushes):
# push wall time of a component (the 18 MB Python logger by default): the first push, and the
# p50 of later pushes of releases that differ from it in a custom section; blob pull throughput with
# 16 connections, manifest GET and tags/list requests per second and p99 with 64 connections,
# and each server's peak memory (VmHWM).
#
# Usage: registry-server/bench/oci.sh [scratch dir]
# Knobs: BENCH_COMPONENT (fixtures/components/py-logger.wasm), BENCH_PUSHES (3), BENCH_SECONDS
# (10), WTOOL_REGISTRY_BIN and BENCH_OCI_DRIVER (existing binaries instead of a release build),
# BENCH_PIN=1 (server on CPU 0, driver on CPU 1). Needs `docker-registry` (apt-get install
# docker-registry).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
scratch="${1:-${TMPDIR:-/tmp}/wtool-registry-oci-bench}"
mkdir -p "$scratch"
target="${CARGO_TARGET_DIR:-$repo/target}"
component="${BENCH_COMPONENT:-$repo/fixtures/components/py-logger.wasm}"

source "$here/common.sh"
release_binaries oci_bench BENCH_OCI_DRIVER
distribution="$(command -v docker-registry || true)"
[ -n "$distribution" ] || { echo "docker-registry is missing: apt-get install docker-registry" >&2; exit 1; }

wait_up() { for _ in $(seq 1 100); do curl -s -o /dev/null "http://$1/v2/" && return 0; sleep 0.1; done; echo "server at $1 did not start" >&2; return 1; }

# --- wtool-registry: a package repository, so every push is also checked and recorded in warg.
start_wtool_registry
wait_up "127.0.0.1:$port"
measure wtool-registry "$pid" "127.0.0.1:$port" example/logger "$token" "$component"

# --- docker-registry: filesystem storage, anonymous.
ref="$scratch/distribution"
rm -rf "$ref"; mkdir -p "$ref/data"
port="$(free_port)"
cat > "$ref/config.yml" <<YML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $ref/data
http:
  addr: 127.0.0.1:$port
YML
"${server_cpu[@]}" "$distribution" serve "$ref/config.yml" >/dev/null 2>&1 &
pid=$!
wait_up "127.0.0.1:$port"
measure docker-registry "$pid" "127.0.0.1:$port" example/logger - "$component"

table "$(cat <<'PY'
mb = rows[0]["result"]["push_ms"]["bytes"] / 1e6
line(f"first push of a {mb:.1f} MB component (ms)", lambda r: f'{r["result"]["push_ms"]["first"]:.0f}')
line(f"push of a release that keeps its code, p50 of {rows[0]['result']['push_ms']['count']} (ms)", lambda r: f'{r["result"]["push_ms"]["p50"]:.0f}')
line("blob pull, 16 connections (MB/s)", lambda r: f'{r["result"]["blob_pull_16"]["mb_per_second"]:.0f}')
line("manifest GET, 64 connections (req/s, p99 ms)", lambda r: f'{r["result"]["manifest_get_64"]["requests_per_second"]:.0f}, {r["result"]["manifest_get_64"]["p99_ms"]:.1f}')
line("tags/list, 64 connections (req/s, p99 ms)", lambda r: f'{r["result"]["tags_list_64"]["requests_per_second"]:.0f}, {r["result"]["tags_list_64"]["p99_ms"]:.1f}')
line("errors (pull, manifest, tags)", lambda r: f'{r["result"]["blob_pull_16"]["errors"]}, {r["result"]["manifest_get_64"]["errors"]}, {r["result"]["tags_list_64"]["errors"]}')
PY
)"
