#!/usr/bin/env bash
# ONNX Runtime latency of one 10-second segment with its transcript (features precomputed) on
# one CPU thread, through the runner tenor uses, side by side with the Python onnxruntime wheel
# of the same version as tools/ort's onnxruntime-node (the reference; pinned, in a virtual
# environment kept in the cache outside the clone), on the same model and inputs; also a call's
# cost with the runner kept for the process against a new process per call. TOKENS (0: all of
# the fixture row's, e.g. 96) cuts the segment's transcript to its first TOKENS ids: a real
# 10-second turn with its context is shorter than max_tokens (bench/text/segment_lengths.py
# gives the shared sets' lengths). Builds nothing: needs build/bench/bench_ort_latency.
#   [BUILD=build] bench/ort_latency.sh BUNDLE [REPEAT] [WARMUP] [TOKENS]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD:-build}
bundle=${1:?usage: bench/ort_latency.sh BUNDLE [REPEAT] [WARMUP] [TOKENS]} repeat=${2:-1000}
warmup=${3:-50} tokens=${4:-0}
ort_version=1.20.1  # = tools/ort/package-lock.json's onnxruntime-node
source scripts/cached-venv.sh
venv=$(cached_venv "pyref-onnxruntime-$ort_version" "onnxruntime==$ort_version" numpy==2.2.6)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$build/bench/bench_ort_latency" "$bundle" --repeat "$repeat" --warmup "$warmup" \
  --tokens "$tokens" --cases-out "$work/case" >"$work/tenor.jsonl"
"$venv/bin/python" bench/ort_latency_ref.py "$bundle/model.onnx" "$work/case" \
  --repeat "$repeat" --warmup "$warmup" >"$work/python.jsonl"
python3 - "$work/tenor.jsonl" "$work/python.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for f in sys.argv[1:] for l in open(f) if l.strip()]
head = rows[0]
print(f"One segment of {head['bundle']} ({head['segment']}, {head['frames']} LLD frames), "
      f"1 intra-op thread, {head['warmup']} warm-up runs:\n")
print("| measure | runs | p50 ms | p95 ms | p99 ms |")
print("|---|---|---|---|---|")
for r in rows[1:]:
    print(f"| {r['measure']} | {r['runs']} | {r['p50_ms']:.2f} | {r['p95_ms']:.2f} | {r['p99_ms']:.2f} |")
d = rows[-1].get("max_abs_delta_vs_runner")
if d is not None:
    print(f"\nmax |p_python - p_runner| = {d:.2g}")
PY
