#!/usr/bin/env bash
# Fuzzes every target of fuzz/ with AFL++ for a bounded time and fails if any
# found a crash (a panic or abort on some input).
#
#   fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]     (default 60 s, every target)
#
# Installs what is missing: cargo-afl from crates.io (its install builds the
# AFL++ it bundles, so nothing comes from GitHub), then builds the targets once
# with `cargo afl build --release` (instrumented, debug assertions and overflow
# checks on). Runs $ZKINFER_FUZZ_JOBS fuzzers at a time (default: one per CPU),
# each on one core for SECONDS_PER_TARGET. AFL's output is under
# fuzz/out/<target>/ (crashes in default/crashes/, reproduce one with
# `fuzz/target/release/<target> < FILE`).
set -euo pipefail
cd "$(dirname "$0")"

SECONDS_PER_TARGET=${1:-60}
shift || true
ALL_TARGETS=(proof_decode_verify vk_decode pk_decode setup_file input_json onnx_import onnx_mutate service_request)
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=("${ALL_TARGETS[@]}")

start=$(date +%s)
echo "== cargo-afl and AFL++"
if ! cargo afl --version >/dev/null 2>&1; then
    cargo install cargo-afl --locked
fi
# The AFL++ runtime is built per rustc version; build it if this one lacks it.
if ! cargo afl fuzz -h 2>&1 | grep -q 'afl-fuzz'; then
    cargo afl config --build --force
fi
echo "== cargo afl build --release (${TARGETS[*]})"
# Not --locked: fuzz/Cargo.lock starts as a copy of the main crate's, and a
# dependency the main crate gains later must not break this build.
# Only the targets to fuzz (not gen_corpus, which proves and links the prover).
cargo afl build --release $(printf -- '--bin %s ' "${TARGETS[@]}")
echo "install + build: $(( $(date +%s) - start )) s"

# A container's kernel settings are not ours to change: accept them.
export AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1
export AFL_NO_AFFINITY=1 AFL_FAST_CAL=1
# One core per fuzzer: no thread pools fighting over it.
export RAYON_NUM_THREADS=1
export ZKINFER_FUZZ_DIR="$PWD/out/work"
mkdir -p out "$ZKINFER_FUZZ_DIR"

# Fuzzers are independent processes on one core each: run one per CPU at a
# time. They share only the keys and setups cached under $ZKINFER_FUZZ_DIR,
# which are written atomically.
JOBS=${ZKINFER_FUZZ_JOBS:-$(nproc 2>/dev/null || echo 1)}
[ "$JOBS" -ge 1 ] || JOBS=1
fuzz_one() {
    local target=$1 rc=0
    rm -rf "out/$target"
    # -V bounds the fuzzing time; the outer timeout also bounds start-up.
    # -t: a 5 s per-input limit (inputs that take longer are hangs, not
    # failures). -m: 4 GiB, so an input that asks for absurd allocations is a
    # crash instead of the machine's problem.
    timeout --kill-after=10 $((SECONDS_PER_TARGET + 120)) \
        cargo afl fuzz -V "$SECONDS_PER_TARGET" -t 5000 -m 4096 \
        -i "corpus/$target" -o "out/$target" "target/release/$target" \
        > "out/$target.log" 2>&1 || rc=$?
    echo "$rc" > "out/$target.rc"
}
# JOBS lanes, each fuzzing every JOBS-th target in turn (the targets take
# about the same time).
lane() {
    local i
    for ((i = $1; i < ${#TARGETS[@]}; i += JOBS)); do
        echo "== ${TARGETS[i]}: ${SECONDS_PER_TARGET} s"
        fuzz_one "${TARGETS[i]}"
    done
}
rm -f out/*.rc
for ((lane_index = 0; lane_index < JOBS; lane_index++)); do
    lane "$lane_index" &
done
wait

failed=()
for target in "${TARGETS[@]}"; do
    rc=$(cat "out/$target.rc" 2>/dev/null || echo "none")
    if [ "$rc" != 0 ]; then
        echo "afl-fuzz failed for $target (exit $rc); its log:"
        tail -n 30 "out/$target.log"
        failed+=("$target")
        continue
    fi
    stats="out/$target/default/fuzzer_stats"
    execs=$(awk -F': ' '/^execs_done/ {print $2}' "$stats")
    speed=$(awk -F': ' '/^execs_per_sec/ {print $2}' "$stats")
    hangs=$(awk -F': ' '/^saved_hangs/ {print $2}' "$stats")
    corpus=$(awk -F': ' '/^corpus_count/ {print $2}' "$stats")
    crashes=$(find "out/$target/default/crashes" -name 'id:*' 2>/dev/null | wc -l)
    echo "$target: $execs execs (${speed}/s), corpus $corpus, hangs $hangs, crashes $crashes"
    if [ "$crashes" -gt 0 ]; then
        failed+=("$target")
        find "out/$target/default/crashes" -name 'id:*' | sed 's/^/    crash: fuzz\//'
    fi
done
rm -rf "$ZKINFER_FUZZ_DIR"/scratch-*

echo "fuzzing total: $(( $(date +%s) - start )) s"
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzzing failed: ${failed[*]}" >&2
    exit 1
fi
