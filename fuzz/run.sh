#!/usr/bin/env bash
# Builds the lint fuzzer with clang (libFuzzer + AddressSanitizer + UBSan) and runs it.
#   fuzz/run.sh [SECONDS]        fuzz for SECONDS (default 300), growing fuzz/corpus/lint
#   fuzz/run.sh --merge          minimise fuzz/corpus/lint (keeps inputs that add edge coverage)
# Environment: BELAY_FUZZ_BUILD (default build-fuzz), FUZZ_JOBS (default 1),
# BELAY_FUZZ_TARGET (default lint; serve = belay serve's request parsers, fuzz/corpus/serve).
# Crashes are written to fuzz/crashes/; replay one with `build-fuzz/fuzz/lint_fuzz FILE`.
# CI replays the corpus without libFuzzer (lint_test: LintFuzzCorpus).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BELAY_FUZZ_BUILD:-build-fuzz}"
target="${BELAY_FUZZ_TARGET:-lint}"
cd "$root"
CC=clang-14 CXX=clang++-14 cmake -S . -B "$build" -G Ninja -DBELAY_FUZZ=ON -DBELAY_TESTS=OFF \
  -DCMAKE_BUILD_TYPE=None \
  -DCMAKE_C_FLAGS="-O1 -gline-tables-only -fsanitize=address,undefined,fuzzer-no-link" \
  -DCMAKE_CXX_FLAGS="-O1 -gline-tables-only -fsanitize=address,undefined,fuzzer-no-link" \
  -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" >/dev/null
cmake --build "$build" --target "${target}_fuzz"
corpus=fuzz/corpus/$target
mkdir -p "$corpus" fuzz/crashes
if [ "${1:-}" = "--merge" ]; then
  tmp="$(mktemp -d)"
  # Edge coverage only (no hit counters): a corpus of a few hundred files, not thousands.
  "$build/fuzz/${target}_fuzz" -merge=1 -use_counters=0 -max_len=4096 "$tmp" "$corpus"
  rm -f "$corpus"/*
  cp "$tmp"/* "$corpus"/
  rm -rf "$tmp"
  echo "corpus: $(ls "$corpus" | wc -l) files"
  exit 0
fi
secs="${1:-300}"
jobs=()
# Parallel jobs log to fuzz-N.log files in the current directory; one job logs to stderr.
[ "${FUZZ_JOBS:-1}" -gt 1 ] && jobs=(-jobs="$FUZZ_JOBS" -workers="$FUZZ_JOBS")
dict=()
[ "$target" = lint ] && dict=(-dict=fuzz/sql.dict)
ASAN_OPTIONS="detect_leaks=1" "$build/fuzz/${target}_fuzz" -max_total_time="$secs" -max_len=4096 -timeout=10 \
  "${jobs[@]}" -artifact_prefix=fuzz/crashes/ "${dict[@]}" "$corpus"
