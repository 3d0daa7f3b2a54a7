#!/usr/bin/env bash
# Builds and runs every cargo-fuzz target in tests/fuzz for N seconds each (default 60), starting
# from the committed seed corpus (tests/fuzz/corpus/<target>/), and fails on the first crash,
# panic, leak or timeout. Installs cargo-fuzz if missing. Only the stable toolchain is needed:
# RUSTC_BOOTSTRAP=1 lets it take the nightly-only instrumentation flags.
#
# Usage: bash tests/fuzz/run.sh [seconds]
#   FUZZ_TARGETS="upstream_sse rest_bodies"  run only these
# Build output goes to $CARGO_TARGET_DIR/fuzz when CARGO_TARGET_DIR is set, else
# tests/fuzz/target; the working corpus (new inputs found) to tests/fuzz/.work/, crash inputs to
# tests/fuzz/artifacts/<target>/ (all git-ignored). Reproduce a crash with
#   RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir tests/fuzz --sanitizer none <target> <artifact>
set -euo pipefail
SECONDS_PER_TARGET=${1:-60}
FUZZ_DIR=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$FUZZ_DIR/../.." && pwd)
cd "$ROOT"
export RUSTC_BOOTSTRAP=1
TARGET_DIR=${CARGO_TARGET_DIR:+$CARGO_TARGET_DIR/fuzz}
TARGET_DIR=${TARGET_DIR:-$FUZZ_DIR/target}

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

# No AddressSanitizer: every workspace crate forbids unsafe code, and ASan would halve the
# executions per second; panics and failed assertions are what these targets look for.
FUZZ=(--fuzz-dir "$FUZZ_DIR" --sanitizer none --target-dir "$TARGET_DIR")
TARGETS=${FUZZ_TARGETS:-$(cargo fuzz list --fuzz-dir "$FUZZ_DIR")}

echo "== building fuzz targets ($TARGET_DIR)"
cargo fuzz build "${FUZZ[@]}"

for target in $TARGETS; do
  work="$FUZZ_DIR/.work/$target"
  artifacts="$FUZZ_DIR/artifacts/$target"
  mkdir -p "$work" "$artifacts"
  echo "== fuzzing $target for ${SECONDS_PER_TARGET}s"
  # New inputs go to the working corpus (first dir), never into the committed seeds.
  cargo fuzz run "${FUZZ[@]}" "$target" "$work" "$FUZZ_DIR/corpus/$target" -- \
    -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
    -dict="$FUZZ_DIR/json.dict" -print_final_stats=1 -artifact_prefix="$artifacts/" 2>&1 | tail -n 25
done
echo "== fuzzing: no crashes"
