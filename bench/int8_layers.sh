#!/usr/bin/env bash
# The int8 text encoder layer by layer (bench/text/int8_layers.py): a bundle's fp32 graph
# against its int8 variants (per tensor, per output channel, 7-bit, ONNX Runtime's
# quantize_dynamic) on the bundle's parity fixtures, and ONNX Runtime's MatMulInteger against
# exact integer arithmetic. The Python onnxruntime wheel of the same version as tools/ort's
# onnxruntime-node, with onnx, in a virtual environment kept in the cache outside the clone.
#   bench/int8_layers.sh BUNDLE     (an fp32 bundle of a model with model.text_encoder)
set -euo pipefail
cd "$(dirname "$0")/.."
bundle=${1:?usage: bench/int8_layers.sh BUNDLE}
ort_version=1.20.1  # = tools/ort/package-lock.json's onnxruntime-node
onnx_version=1.23.2
source scripts/cached-venv.sh
venv=$(cached_venv "pyref-onnxruntime-$ort_version-onnx-$onnx_version" \
  "onnxruntime==$ort_version" "onnx==$onnx_version" numpy==2.2.6)
"$venv/bin/python" bench/text/int8_layers.py "$bundle"
