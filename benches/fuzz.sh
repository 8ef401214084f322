#!/usr/bin/env bash
# Runs the fuzz targets in fuzz/ with libFuzzer (cargo-fuzz), seeded from the WAT cases and the
# small fixtures. This machine has only a stable toolchain, so cargo-fuzz's nightly flags are
# allowed with RUSTC_BOOTSTRAP=1.
#
#   benches/fuzz.sh TARGET SECONDS     one target
#   benches/fuzz.sh all [SECONDS]      every target, SECONDS each (default 180)
#   benches/fuzz.sh list               the targets
#
# Crashes land in fuzz/artifacts/TARGET/; copy each minimised crasher into
# tests/fuzz-cases/TARGET/ so that `cargo test` replays it. Corpora grow in
# $FUZZ_CORPUS (default: ~/.cache/wtool/fuzz/corpus). FUZZ_SANITIZER=none runs without ASan,
# two to three times as many executions a second (the code under test is safe Rust; the
# default, address, also covers the C in binaryen and SQLite). FUZZ_TIMEOUT (1) is the wall
# time in seconds after which libFuzzer calls an input a hang; on a machine busy with builds,
# raise it and time each timeout artifact alone (`$CARGO_TARGET_DIR/.../TARGET FILE`): one that
# runs in under a second alone was the load, not a hang. Needs cargo-fuzz
# (`cargo install cargo-fuzz --locked`; FUZZ_CARGO_FUZZ points at another binary).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/.." && pwd)"
cargo_fuzz="${FUZZ_CARGO_FUZZ:-$(command -v cargo-fuzz || true)}"
[ -n "$cargo_fuzz" ] || { echo "cargo-fuzz is missing: cargo install cargo-fuzz --locked" >&2; exit 1; }
corpus_root="${FUZZ_CORPUS:-$HOME/.cache/wtool/fuzz/corpus}"
export RUSTC_BOOTSTRAP=1
# ASan's ODR check stops at start on a global of the bundled SQLite C code (libsqlite3-sys).
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_odr_violation=0}"
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-${CARGO_TARGET_DIR:-$repo/target}/fuzz}"

targets() { sed -n 's/^name = "\(.*\)"$/\1/p' "$repo/fuzz/Cargo.toml" | grep -v '^wtool-fuzz$'; }

# seed TARGET DIR: small real inputs for the target's first run, and the kept cases.
seed() {
  local target="$1" dir="$2"
  mkdir -p "$dir"
  [ -n "$(ls -A "$dir" 2>/dev/null)" ] && return 0
  case "$target" in
    compose|http|envelope|oci_manifest|client_answers)
      # The kept cases are the seeds: small sockets and plugs joined as the target reads them
      # (compose), headers, publish records and manifests written by real clients.
      ;;
    lock_and_config)
      find "$repo/tests" "$repo/fixtures" -name '*.lock' -o -name '*.toml' -size -64k \
        | head -200 | while read -r f; do cp "$f" "$dir/$(sha256sum "$f" | cut -c1-16)"; done ;;
    *)
      # Every .wasm under 64 KiB in the fixtures and the test cases (the inputs' size limit).
      find "$repo/fixtures" "$repo/tests" -name "*.wasm" -size -64k \
        | while read -r f; do cp "$f" "$dir/$(sha256sum "$f" | cut -c1-16)"; done
      if [ "$target" = content_policy ] || [ "$target" = optimize ]; then
        for f in "$dir"/*; do printf '\x40' | cat - "$f" > "$f.cut" && mv "$f.cut" "$f"; done
      fi ;;
  esac
  cp "$repo/tests/fuzz-cases/$target/"* "$dir/" 2>/dev/null || true
}

# Without ASan, libFuzzer cannot see single allocations; the whole process's RSS is bounded
# instead (ASan's shadow memory needs the larger bound).
[ "${FUZZ_SANITIZER:-address}" = none ] && rss_limit=640 || rss_limit=2048
run() {
  local target="$1" seconds="$2" corpus="$corpus_root/$1"
  seed "$target" "$corpus"
  echo "== $target for ${seconds}s (corpus $corpus: $(ls "$corpus" | wc -l) inputs)" >&2
  (cd "$repo/fuzz" && "$cargo_fuzz" run --sanitizer "${FUZZ_SANITIZER:-address}" "$target" "$corpus" -- \
     -max_total_time="$seconds" -timeout="${FUZZ_TIMEOUT:-1}" -malloc_limit_mb=512 -rss_limit_mb="$rss_limit" -max_len=65536 -print_final_stats=1) \
     2>&1 | tee "${FUZZ_LOG_DIR:-/tmp}/fuzz-$target.log" | grep -E '^(#[0-9]+.*DONE|stat::number_of_executed_units|==[0-9]+==|SUMMARY|artifact_prefix|Test unit written)' || true
}

case "${1:-}" in
  list) targets ;;
  all) for t in $(targets); do run "$t" "${2:-180}"; done ;;
  "") sed -n '2,13p' "$0" >&2; exit 2 ;;
  *) run "$1" "${2:-60}" ;;
esac
