#!/usr/bin/env bash
# Training throughput of `tenor train` against the same fusion model, batches and
# optimizer written as a plain PyTorch loop (bench/train/torch_loop.py), side by side in one
# run, on the same LibTorch: the torch wheel of .venv for the default build (2.x), Debian's
# python3-torch (1.13) with TENOR_TORCH=system (PYTHON overrides).
#   [TENOR=build/tenor] [PYTHON=.venv/bin/python] bench/train_bench.sh [STORE] [THREADS]
# STORE defaults to a ravdess-anger store built on the fly from ../shared/data.
# Both sides run 3 epochs; the first is a warm-up and is not timed.
set -euo pipefail
cd "$(dirname "$0")/.."
tenor=${TENOR:-build/tenor}
python=${PYTHON:-.venv/bin/python}
[[ ${TENOR_TORCH:-wheel} == system ]] && python=${PYTHON:-/usr/bin/python3}
store=${1:-}
threads=${2:-1}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [[ -z $store ]]; then
  store=$work/ravdess.h5
  $tenor data build ../shared/data/ravdess-anger --out "$store" --no-progress 2>/dev/null
fi
# configs/ravdess-anger.yaml as the store-only model it was (the reference loop reads the store)
common=(--set epochs=3 --set patience=10 --set checkpoint_every_steps=100000 --set threads="$threads"
        --set normalize_loudness=false --set augment.probability=0 --set selection=clean
        --set calibration=clean --set "drop_features=[]"
        --set model.dropout=0.3 --set model.modality_dropout=0.1 --set model.use_text=false
        --set 'speech_encoder=""')
$tenor train --config configs/ravdess-anger.yaml --set features="$store" --set out="$work/run" "${common[@]}" \
  2>/dev/null >/dev/null
# Segments over seconds of the timed epochs, as torch_loop.py counts them (training steps
# only: tenor's per-epoch dev evaluation is outside train_seconds).
tenor_rate=$(python3 bench/train/run_rate.py "$work/run")
tenor_wait=$(python3 bench/train/run_rate.py "$work/run" data_wait)
py=$("$python" bench/train/torch_loop.py --store "$store" --epochs 3 --use-text 0 --threads "$threads" \
  --dropout 0.3 --modality-dropout 0.1 --hidden 64 --conv-channels 64 --lr 0.002)
py_rate=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["segments_per_s"])' "$py")
py_wait=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["data_wait_share"])' "$py")
echo "| trainer (ravdess-anger, fusion, batch 32, $threads thread(s)) | segments/s | data-wait share |"
echo "|---|---|---|"
printf '| tenor train (C++, LibTorch) | %.1f | %.2f %% |\n' "$tenor_rate" "$(python3 -c "print($tenor_wait*100)")"
printf '| plain PyTorch loop (Python, torch %s) | %.1f | %.2f %% |\n' "$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["torch"])' "$py")" "$py_rate" "$(python3 -c "print($py_wait*100)")"
printf '| ratio tenor / PyTorch | %.2fx | |\n' "$(python3 -c "print($tenor_rate/$py_rate)")"
