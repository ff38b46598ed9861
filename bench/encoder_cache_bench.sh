#!/usr/bin/env bash
# What a full `encoder_cache_gb` costs: fine-tuning steps of a partly frozen encoder
# (TRAINABLE top blocks, model.encoder_trainable_layers) with every row's frozen bottom kept,
# as `tenor train` does within its budget, against nothing kept (CACHE_GB=0: every row's
# bottom computed again at every step, each row alone, as rows beyond the budget are), side
# by side in one run (kept, none, kept, none; the better of each is reported). Batches are
# EPITOME's labelled segments as `tenor train` feeds them (bench/text_encoder_bench.sh).
#   [BUILD=build] [SHARED=../shared] [ENCODER=mpnet-base] [TRAINABLE=4] \
#     bench/encoder_cache_bench.sh [BATCH] [LENGTH] [STEPS] [THREADS]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD:-build} shared=${SHARED:-../shared}
batch=${1:-16} length=${2:-96} steps=${3:-20} threads=${4:-2} context=48
name=${ENCODER:-mpnet-base} trainable=${TRAINABLE:-4}
calls=$shared/data/epitome-empathy/calls.jsonl
[[ -f $calls ]] || { echo "encoder_cache_bench: $calls not found; set SHARED" >&2; exit 1; }
encoder=$(tools/text-encoders/fetch.sh "$name")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tools/text-encoders/reference.sh python bench/text/transcript_batches.py "$encoder" "$calls" \
  "$batch" "$length" "$context" "$((steps + 3))" >"$work/batches.jsonl"
run() {  # CACHE_GB ("" for no bound)
  CACHE_GB=$1 TRAINABLE=$trainable "$build/bench/bench_text_encoder" "$encoder" "$batch" \
    "$length" "$steps" "$threads" "$work/batches.jsonl"
}
r=(); for round in 1 2; do r+=("$(run 1000000)" "$(run 0)"); done
python3 - "${r[@]}" <<'PY'
import json, sys
rows = [json.loads(r) for r in sys.argv[1:]]
kept = max(rows[0::2], key=lambda r: r["sequences_per_s"])
none = max(rows[1::2], key=lambda r: r["sequences_per_s"])
print("| states kept | sequences/s | kept MB | peak RSS MB |")
print("|---|---|---|---|")
for name, r in (("every row's", kept), ("none (encoder_cache_gb: 0)", none)):
    print(f"| {name} | {r['sequences_per_s']:.2f} | {r['kept_mb']:.0f} | {r['peak_rss_mb']:.0f} |")
print(f"\nnothing kept runs at {none['sequences_per_s'] / kept['sequences_per_s']:.2f}x the rate; "
      f"the first pass over the batches (computing every bottom) ran at "
      f"{kept['first_pass_sequences_per_s']:.2f} sequences/s")
PY
