# Shared by bench.sh and oci.sh (sourced, not run): binaries, ports, memory and CPU pinning.

# release_binaries EXAMPLE DRIVER_VARIABLE: sets `wtool` and `driver`, from WTOOL_REGISTRY_BIN and
# the named variable when both are set, otherwise from a release build.
release_binaries() {
  local example="$1" given="${!2:-}"
  if [ -n "${WTOOL_REGISTRY_BIN:-}" ] && [ -n "$given" ]; then
    wtool="$WTOOL_REGISTRY_BIN"
    driver="$given"
  else
    echo "== building wtool-registry and the driver (release)" >&2
    (cd "$repo" && nice -n "${BENCH_NICE:-19}" cargo build --release -p wtool-registry --bin wtool-registry --example "$example")
    wtool="$target/release/wtool-registry"
    driver="$target/release/examples/$example"
  fi
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
peak_rss_kb() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }

# BENCH_PIN=1 runs each server on CPU 0 and the driver on CPU 1, so that the driver cannot take
# the server's CPU time.
server_cpu=()
driver_cpu=()
if [ "${BENCH_PIN:-0}" = 1 ]; then
  server_cpu=(taskset -c 0)
  driver_cpu=(taskset -c 1)
fi

# measure NAME PID DRIVER_ARGS...: runs the driver against the server NAME (process PID), stops
# the server, and appends one JSON line to $results with the driver's output, the server's peak
# memory and the load average when it started.
measure() {
  local name="$1" pid="$2" load out rss
  shift 2
  load="$(cut -d' ' -f1-3 /proc/loadavg)"
  echo "== measuring $name (load average $load)" >&2
  out="$("${driver_cpu[@]}" "$driver" "$@")"
  rss="$(peak_rss_kb "$pid")"
  kill -TERM "$pid"; wait "$pid" || true
  echo "{\"server\":\"$name\",\"load_at_start\":\"$load\",\"peak_rss_kb\":$rss,\"result\":$out}" >> "$results"
}

# table ROWS_PYTHON: prints $results as a Markdown table with one column per server. ROWS_PYTHON
# calls `line(label, f)` once per row, where `f` maps a server's result line to its cell, and
# may read `rows` (every result line) and `os`.
table() {
  echo "== results ($results)" >&2
  python3 - "$results" "$1" <<'PY'
import json, os, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print("| | " + " | ".join(r["server"] for r in rows) + " |")
print("|---|" + "---|" * len(rows))
def line(label, f):
    print(f"| {label} | " + " | ".join(f(r) for r in rows) + " |")
exec(sys.argv[2])
line("peak RSS (MB)", lambda r: f'{r["peak_rss_kb"]/1024:.0f}')
line("load average at start (1/5/15 min)", lambda r: r.get("load_at_start", "?").replace(" ", " / "))
PY
}

# start_wtool_registry [SERVE_FLAGS...]: a fresh registry in $scratch/wtool-data with the
# namespace `example`; sets `token`, `port` and `pid`. $results is emptied for the run.
start_wtool_registry() {
  results="$scratch/results.jsonl"
  : > "$results"
  local data="$scratch/wtool-data"
  rm -rf "$data"
  "$wtool" init --data-dir "$data" --namespace example >/dev/null
  token="$("$wtool" token create --namespace example --data-dir "$data")"
  port="$(free_port)"
  RUST_LOG=warn "${server_cpu[@]}" "$wtool" serve --data-dir "$data" --listen "127.0.0.1:$port" "$@" >/dev/null 2>&1 &
  pid=$!
}
