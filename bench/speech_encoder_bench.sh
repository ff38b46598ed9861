#!/usr/bin/env bash
# Whisper tiny.en's encoder per 2.4 s clip (log-mel, the encoder over 30 s, pooling): tenor's
# native one (data/features/speech_encoder.h) against Hugging Face `transformers` on the same torch
# (the wheel of .venv), the same weights, batches and threads, side by side, twice each; the
# better of each is reported with its process's peak resident memory.
#   [BUILD=build] bench/speech_encoder_bench.sh [CLIPS] [THREADS]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD:-build} clips=${1:-64} threads=${2:-2}
encoder=$(tools/text-encoders/fetch.sh whisper-tiny-en)
run_tenor() { "$build/bench/bench_speech_encoder" "$encoder" "$clips" "$threads"; }
run_python() {
  tools/text-encoders/reference.sh python bench/speech/encoder_time.py "$encoder" "$clips" \
    "$threads"
}
rows=()
for _ in 1 2; do rows+=("$(run_tenor)" "$(run_python)"); done
python3 - "$clips" "$threads" "${rows[@]}" <<'PY'
import json, sys
clips, threads, rows = sys.argv[1], sys.argv[2], [json.loads(r) for r in sys.argv[3:]]
tenor, py = (min(rows[i::2], key=lambda r: r["ms_per_clip"]) for i in range(2))
print(f"Whisper tiny.en, {clips} clips of 2.4 s padded to 30 s, batches of 8, {threads} thread(s),"
      " ms per clip (peak RSS), the better of two runs each")
print()
print("| tenor (C++, LibTorch) | transformers (Python, same torch) | ratio |")
print("|---|---|---|")
print(f"| {tenor['ms_per_clip']:.1f} ({tenor['peak_rss_mb']:.0f} MB) | "
      f"{py['ms_per_clip']:.1f} ({py['peak_rss_mb']:.0f} MB) | "
      f"{py['ms_per_clip'] / tenor['ms_per_clip']:.2f}x |")
PY
