#!/usr/bin/env bash
# Runs tenor's benchmarks side by side and prints markdown tables for docs/benchmarks.md.
#   bench/run.sh            # all
#   bench/run.sh validate   # one
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/install-deps.sh scripts/packages-bench.txt
scripts/build.sh >/dev/null
shared=$(cd .. && pwd)/shared/data
which=${1:-all}
echo "# $(date -u +%Y-%m-%d) on $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), commit $(git rev-parse --short HEAD 2>/dev/null || echo none)"
if [[ $which == all || $which == validate ]]; then
  echo; echo "## data validate"
  build/bench/bench_validate 10000 "$shared"
fi
if [[ $which == all || $which == features ]]; then
  echo; echo "## features (vs Praat)"
  bench/bench_features.sh
fi
if [[ $which == all || $which == memory ]]; then
  echo; echo "## data build: peak memory vs dataset size"
  bench/build_memory_bench.sh
fi
if [[ $which == all || $which == stream ]]; then
  echo; echo "## features and predict: peak memory vs call length"
  bench/stream_memory_bench.sh
fi
if [[ $which == all || $which == train ]]; then
  echo; echo "## train (vs a plain PyTorch loop)"
  bench/train_bench.sh
fi
if [[ $which == all || $which == distributed ]]; then
  echo; echo "## train: two ranks on one machine, every core each vs shared cores"
  bench/distributed_threads.sh
fi
if [[ $which == all || $which == cpu-quota ]]; then
  echo; echo "## train: under a CPU quota, threads lowered to it vs one per core"
  bench/cpu_quota.sh
fi
if [[ $which == all || $which == text-encoder ]]; then
  echo; echo "## text encoder fine-tuning (vs a Hugging Face transformers loop)"
  bench/text_encoder_bench.sh
fi
if [[ $which == all || $which == encoder-cache ]]; then
  echo; echo "## text encoder: frozen states kept vs computed again (encoder_cache_gb full)"
  SHARED="$(cd .. && pwd)/shared" bench/encoder_cache_bench.sh
fi
if [[ $which == all || $which == export ]]; then
  echo; echo "## export: ONNX Runtime vs LibTorch latency"
  build/bench/bench_export --repeat 300
fi
if [[ $which == all || $which == ort-latency ]]; then
  echo; echo "## ONNX Runtime: one segment of a bundle, runner vs Python onnxruntime"
  if [[ -n ${ORT_BUNDLE:-} ]]; then bench/ort_latency.sh "$ORT_BUNDLE"
  else echo "(skipped: set ORT_BUNDLE to an exported bundle, e.g. a MiniLM text-encoder one)"; fi
fi
if [[ $which == all || $which == predict ]]; then
  echo; echo "## predict: batch (--list, --dataset) vs one process per call"
  bench/predict_batch.sh
fi
if [[ $which == all || $which == review ]]; then
  echo; echo "## data review: flipped labels found, vs cleanlab"
  bench/review_bench.sh
fi
if [[ $which == all || $which == eval ]]; then
  echo; echo "## eval"
  build/bench/bench_eval
fi
