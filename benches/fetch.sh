#!/usr/bin/env bash
# Dependency-resolution benchmark: `wtool fetch` against `wkg fetch` (0.16) on the same tree of
# WIT packages, both reading a local-directory registry through the same wkg config file; then
# wtool against a real wtool-registry (warg) to count requests. Not a test: prints tables.
#
#   WKG=/path/to/wkg benches/fetch.sh      # install wkg with `cargo install wkg --locked`
set -euo pipefail
cd "$(dirname "$0")/.."
command -v hyperfine >/dev/null || { echo "needs hyperfine (apt-get install hyperfine)"; exit 1; }
N=${N:-24}
RUNS=${RUNS:-10}
WKG=${WKG:-wkg}
# WTOOL_BIN_DIR points at already-built binaries (for example a debug build); otherwise build
# release ones.
if [ -z "${WTOOL_BIN_DIR:-}" ]; then
  cargo build --release -p wtool -p wtool-registry >/dev/null
  WTOOL_BIN_DIR=${CARGO_TARGET_DIR:-$PWD/target}/release
fi
WTOOL=$WTOOL_BIN_DIR/wtool
REGISTRY_BIN=$WTOOL_BIN_DIR/wtool-registry
work=$(mktemp -d)
trap 'kill $server_pid 2>/dev/null || true; rm -rf "$work"' EXIT
server_pid=

python3 benches/gen-wit-tree.py "$work/tree" "$N"
reg=$work/local-registry
mkdir -p "$reg"
cat > "$work/wkg-config.toml" <<TOML
default_registry = "bench.local"

[registry."bench.local"]
type = "local"

[registry."bench.local".local]
root = "$reg"
TOML
export WKG_CONFIG_FILE=$work/wkg-config.toml WTOOL_CONFIG_DIR=$work/wtool-config
export XDG_CONFIG_HOME=$work/xdg

# Publish the tree bottom-up: fetch each package's dependencies, then publish it.
for i in $(seq 0 $((N - 1))); do
  (cd "$work/tree/p$i" && WTOOL_CACHE_DIR=$work/pub-cache "$WTOOL" -q fetch -d . --lock-file wkg.lock \
     && WTOOL_CACHE_DIR=$work/pub-cache "$WTOOL" -q publish .)
done
app=$work/tree/app
cd "$app"

if command -v "$WKG" >/dev/null; then
echo "## $N packages (the app imports 3, which embed the rest), local-directory registry, $RUNS runs"
echo
echo "| case | wtool | wkg $("$WKG" --version | awk '{print $2}') | ratio |"
echo "|---|---|---|---|"
json=$work/h.json
bench() { # label, wtool cmd, wkg cmd, wtool prepare, wkg prepare
  hyperfine -N -w 1 -r "$RUNS" --export-json "$json" \
    --prepare "$4" "$2" --prepare "$5" "$3" >/dev/null 2>&1
  python3 - "$json" "$1" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
a, b = r[0]["mean"] * 1000, r[1]["mean"] * 1000
print(f"| {sys.argv[2]} | {a:.1f} ms | {b:.1f} ms | {a / b:.2f} |")
PY
}
export WTOOL_CACHE_DIR=$work/wtool-cache WKG_CACHE_DIR=$work/wkg-cache
bench "cold (empty cache, no lock)" \
  "$WTOOL -q fetch" "$WKG fetch" \
  "rm -rf $work/wtool-cache $app/wkg.lock $app/wit/deps" \
  "rm -rf $work/wkg-cache $app/wkg.lock $app/wit/deps"
# Warm: each tool's own lock and cache from a previous run.
rm -rf "$app/wkg.lock" "$app/wit/deps"; "$WTOOL" -q fetch; cp wkg.lock "$work/wtool.lock"
rm -rf "$app/wkg.lock" "$app/wit/deps"; "$WKG" fetch >/dev/null 2>&1; cp wkg.lock "$work/wkg.lock"
bench "warm (lock + cache; wtool --locked)" \
  "$WTOOL -q fetch --locked" "$WKG fetch" \
  "cp $work/wtool.lock $app/wkg.lock" "cp $work/wkg.lock $app/wkg.lock"
echo
echo "wkg.lock entries: wtool $(grep -c '^\[\[packages\]\]' "$work/wtool.lock"), wkg $(grep -c '^\[\[packages\]\]' "$work/wkg.lock")"
echo
else
  echo "(no wkg at \`$WKG\`: the comparison with wkg is skipped)"
fi

# The same tree on a real wtool-registry (warg), counting requests from its /metrics.
data=$work/registry-data
"$REGISTRY_BIN" init --data-dir "$data" --namespace bench >/dev/null 2>&1
token=$("$REGISTRY_BIN" token create --data-dir "$data" --namespace bench 2>/dev/null)
"$REGISTRY_BIN" serve --data-dir "$data" --listen 127.0.0.1:0 --allow-anonymous-publish \
  > "$work/server.out" 2>/dev/null &
server_pid=$!
for _ in $(seq 50); do grep -q listening "$work/server.out" 2>/dev/null && break; sleep 0.1; done
url=$(sed -n 's/^listening on //p' "$work/server.out" | sed 's,/$,,')
host=${url#http://}
export WTOOL_REGISTRY=$url
export "WTOOL_REGISTRY_$(echo "$host" | tr -c 'A-Za-z0-9\n' '_' | tr a-z A-Z)_TOKEN=$token"
unset WKG_CONFIG_FILE
"$WTOOL" -q key new --name bench >/dev/null 2>&1 || true
for i in $(seq 0 $((N - 1))); do
  (cd "$work/tree/p$i" && rm -rf wit deps wkg.lock && WTOOL_CACHE_DIR=$work/pub-cache2 "$WTOOL" -q fetch -d . --lock-file wkg.lock \
     && WTOOL_CACHE_DIR=$work/pub-cache2 "$WTOOL" -q publish . --key bench)
done
requests() { curl -s "$url/metrics" | awk '/^wtool_registry_http_requests_total/ {s+=$2} END {print s}'; }
cd "$app"
rm -rf "$work/warg-cache" wkg.lock wit/deps
export WTOOL_CACHE_DIR=$work/warg-cache
r0=$(requests); t0=$(date +%s%N); "$WTOOL" -q fetch; t1=$(date +%s%N); r1=$(requests)
cold_req=$((r1 - r0 - 1)); cold_ms=$(( (t1 - t0) / 1000000 ))
r0=$(requests); t0=$(date +%s%N); "$WTOOL" -q fetch --locked; t1=$(date +%s%N); r1=$(requests)
warm_req=$((r1 - r0 - 1)); warm_ms=$(( (t1 - t0) / 1000000 ))
echo "## wtool against wtool-registry (warg, loopback)"
echo
echo "| case | time | requests |"
echo "|---|---|---|"
echo "| cold fetch | $cold_ms ms | $cold_req |"
echo "| warm fetch --locked | $warm_ms ms | $warm_req |"

# The same tree on Debian's docker-registry (OCI, loopback), requests counted from its access
# log; wkg too when it is installed (it reads the same wkg config).
if [ -x /usr/bin/docker-registry ]; then
  kill "$server_pid" 2>/dev/null || true
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  oci=127.0.0.1:$port
  cat > "$work/oci.yml" <<YAML
version: 0.1
log:
  level: error
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: $work/oci-storage
http:
  addr: $oci
  secret: bench
YAML
  /usr/bin/docker-registry serve "$work/oci.yml" > "$work/oci-access.log" 2>/dev/null &
  server_pid=$!
  for _ in $(seq 100); do curl -s "http://$oci/v2/" >/dev/null && break; sleep 0.1; done
  cat > "$work/wkg-oci.toml" <<TOML
default_registry = "$oci"

[registry."$oci".oci]
protocol = "http"
TOML
  export WKG_CONFIG_FILE=$work/wkg-oci.toml
  unset WTOOL_REGISTRY
  for i in $(seq 0 $((N - 1))); do
    (cd "$work/tree/p$i" && rm -rf deps wkg.lock && WTOOL_CACHE_DIR=$work/pub-cache3 "$WTOOL" -q fetch -d . --lock-file wkg.lock \
       && WTOOL_CACHE_DIR=$work/pub-cache3 "$WTOOL" -q publish .)
  done
  oci_requests() { grep -c ' HTTP/1.1"' "$work/oci-access.log"; }
  cd "$app"
  # Requests from one run; the time is hyperfine's mean over $RUNS runs, each prepared as the
  # case says (a single run on loopback varies by a third from one run to the next).
  measure() { # label, prepare, command...
    local label=$1 prepare=$2; shift 2
    local r0 r1
    bash -c "$prepare"
    r0=$(oci_requests); "$@" >/dev/null 2>&1; r1=$(oci_requests)
    hyperfine -N -w 1 -r "$RUNS" --export-json "$work/o.json" --prepare "$prepare" "$*" >/dev/null 2>&1
    local ms
    ms=$(python3 -c 'import json,sys; print("%.1f" % (json.load(open(sys.argv[1]))["results"][0]["mean"]*1000))' "$work/o.json")
    echo "| $label | $ms ms | $((r1 - r0)) |"
  }
  echo
  echo "## $N packages on docker-registry (OCI, loopback), $RUNS runs"
  echo
  echo "| case | time | requests |"
  echo "|---|---|---|"
  export WTOOL_CACHE_DIR=$work/oci-cache
  measure "wtool cold fetch" "rm -rf $work/oci-cache wkg.lock wit/deps" "$WTOOL" -q fetch
  measure "wtool warm fetch --locked" "true" "$WTOOL" -q fetch --locked
  if command -v "$WKG" >/dev/null; then
    export WKG_CACHE_DIR=$work/wkg-oci-cache
    measure "wkg cold fetch" "rm -rf $work/wkg-oci-cache wkg.lock wit/deps" "$WKG" fetch
    measure "wkg warm fetch" "true" "$WKG" fetch
  fi
fi
