#!/usr/bin/env bash
# Fine-tuning throughput of the native text encoder (model.text_encoder) against the same
# model fine-tuned by a plain Python loop with Hugging Face `transformers`, on the same torch
# (the wheel of .venv), the same encoder (all-MiniLM-L6-v2), batch, length and threads, side
# by side in one run: tenor, Python, tenor, Python; the better of each pair is reported, with
# each process's peak resident memory.
#   [BUILD=build] bench/text_encoder_bench.sh [BATCH] [LENGTH] [STEPS] [THREADS]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD:-build}
batch=${1:-16} length=${2:-96} steps=${3:-20} threads=${4:-2}
encoder=$(tools/text-encoders/fetch.sh minilm-l6)
run_tenor() { "$build/bench/bench_text_encoder" "$encoder" "$batch" "$length" "$steps" "$threads"; }
run_python() {
  tools/text-encoders/reference.sh python bench/text/encoder_loop.py "$encoder" "$batch" "$length" \
    "$steps" "$threads"
}
results=()
for round in 1 2; do results+=("$(run_tenor)" "$(run_python)"); done
python3 - "$batch" "$length" "$threads" "${results[@]}" <<'PY'
import json, sys
batch, length, threads = sys.argv[1:4]
rows = [json.loads(r) for r in sys.argv[4:]]
tenor = max(rows[0::2], key=lambda r: r["sequences_per_s"])
py = max(rows[1::2], key=lambda r: r["sequences_per_s"])
print(f"| all-MiniLM-L6-v2 fine-tuning step, batch {batch} x {length} tokens, {threads} thread(s) "
      "| sequences/s | peak RSS |")
print("|---|---|---|")
print(f"| tenor (C++, LibTorch {tenor['torch']}) | {tenor['sequences_per_s']:.1f} | "
      f"{tenor['peak_rss_mb']:.0f} MB |")
print(f"| transformers loop (Python, torch {py['torch']}, attention {py['attention']}) | "
      f"{py['sequences_per_s']:.1f} | {py['peak_rss_mb']:.0f} MB |")
print(f"| ratio tenor / Python | {tenor['sequences_per_s'] / py['sequences_per_s']:.2f}x | |")
PY
