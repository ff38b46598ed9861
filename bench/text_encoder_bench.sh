#!/usr/bin/env bash
# Fine-tuning throughput of the native text encoder (model.text_encoder) against the same
# model fine-tuned by a plain Python loop with Hugging Face `transformers` on the same torch
# (the wheel of .venv), the same encoder (ENCODER: minilm-l6, all-MiniLM-L6-v2, by default;
# mpnet-base: all-mpnet-base-v2), batches and threads, side by side
# in one run: tenor, Python, Python with AdamW(fused=True), tenor with LibTorch's AdamW, twice;
# the better of each is reported, with each process's peak resident memory. tenor's trainer
# updates with ATen's fused CPU kernel (train/optimizer.h); a plain Python loop gets the AdamW
# that updates one parameter at a time in several ops. The third column shows what Python gains
# by asking for the fused one, the last what tenor gained from it. Two workloads:
#   random   BATCH rows of LENGTH random ids, no padding (the pure kernel comparison);
#   DATASET  the labelled segments of each shared set (../shared/data/epitome-empathy and
#            meld-anger when present) as `tenor train` feeds them (segment + CONTEXT pieces of
#            the previous one, at most LENGTH ids), batches of BATCH padded to their longest
#            row, as a data collator with dynamic padding does; tenor runs them unpadded.
# PRECISION=bf16: both sides run the forward pass and the loss under bf16 autocast on the CPU
# (fast where the CPU has AVX512-BF16 or AMX); the default fp32 is what the goal is read on.
# TRAINABLE=N: only the top N blocks train on both sides (model.encoder_trainable_layers: N).
# Python freezes the rest and runs it every step; tenor keeps the frozen bottom per row as
# `tenor train` does, so its timed steps are those of an epoch after the first, and the rate
# of its first pass over the batches (which computes the bottom) is given beside it.
#   [BUILD=build] [SHARED=../shared] [PRECISION=fp32|bf16] [ENCODER=minilm-l6|mpnet-base] \
#     [TRAINABLE=N] bench/text_encoder_bench.sh [BATCH] [LENGTH] [STEPS] [THREADS]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD:-build} shared=${SHARED:-../shared}
batch=${1:-16} length=${2:-96} steps=${3:-20} threads=${4:-2} context=48
name=${ENCODER:-minilm-l6}
encoder=$(tools/text-encoders/fetch.sh "$name")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
run_tenor() { "$build/bench/bench_text_encoder" "$encoder" "$batch" "$length" "$steps" "$threads" "$@"; }
run_python() {
  tools/text-encoders/reference.sh python bench/text/encoder_loop.py "$encoder" "$batch" "$length" \
    "$steps" "$threads" "$@"
}
run_python_fused() { OPTIMIZER=fused run_python "$@"; }
run_tenor_libtorch() { OPTIMIZER=libtorch run_tenor "$@"; }
report() {  # WORKLOAD then (TENOR PYTHON FUSED_PYTHON LIBTORCH_ADAMW_TENOR JSON lines) per round
  python3 - "$@" <<'PY'
import json, sys
name, rows = sys.argv[1], [json.loads(r) for r in sys.argv[2:]]
tenor, py, fused, plain = (max(rows[i::4], key=lambda r: r["sequences_per_s"]) for i in range(4))
first = f"; first pass {tenor['first_pass_sequences_per_s']:.1f}" if tenor.get(
    "first_pass_sequences_per_s") else ""
rate = tenor['sequences_per_s']
print(f"| {name} | {rate:.1f} ({tenor['peak_rss_mb']:.0f} MB{first}) | "
      f"{py['sequences_per_s']:.1f} ({py['peak_rss_mb']:.0f} MB) | "
      f"{rate / py['sequences_per_s']:.2f}x | "
      f"{fused['sequences_per_s']:.1f} ({fused['peak_rss_mb']:.0f} MB) | "
      f"{rate / fused['sequences_per_s']:.2f}x | "
      f"{plain['sequences_per_s']:.1f} ({plain['peak_rss_mb']:.0f} MB) |")
PY
}
echo "$name fine-tuning steps, batch $batch, at most $length ids, $threads thread(s)," \
  "$steps steps after 3 warm-up, ${PRECISION:-fp32}," \
  "${TRAINABLE:+top $TRAINABLE blocks trained, }sequences/s (peak RSS)"
echo
echo "| workload | tenor (C++, LibTorch) | transformers loop (Python, same torch) | ratio |" \
  "transformers loop, AdamW(fused=True) | ratio | tenor with LibTorch's AdamW |"
echo "|---|---|---|---|---|---|---|"
r=(); for round in 1 2; do
  r+=("$(run_tenor)" "$(run_python)" "$(run_python_fused)" "$(run_tenor_libtorch)")
done
report "random ids, $batch x $length, no padding" "${r[@]}"
for set in epitome-empathy meld-anger; do
  [[ -f $shared/data/$set/calls.jsonl ]] || continue
  tools/text-encoders/reference.sh python bench/text/transcript_batches.py "$encoder" \
    "$shared/data/$set/calls.jsonl" "$batch" "$length" "$context" "$((steps + 3))" >"$work/$set.jsonl"
  r=(); for round in 1 2; do
    r+=("$(run_tenor "$work/$set.jsonl")" "$(run_python "$work/$set.jsonl")"
      "$(run_python_fused "$work/$set.jsonl")" "$(run_tenor_libtorch "$work/$set.jsonl")")
  done
  report "$set transcripts, batches of $batch padded to their longest row" "${r[@]}"
done
