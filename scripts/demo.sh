#!/usr/bin/env bash
# Installs what is missing, builds, and runs tenor end to end on generated sample
# calls (espeak-ng speech): synthesise -> validate -> split (speaker-disjoint) ->
# stats and agreement -> feature store -> train (fusion model and linear baseline) ->
# evaluate on held-out calls -> compare -> export to ONNX (parity gate) -> verify ->
# predict from raw audio. Everything lands in demo-out/.
set -euo pipefail

# The audio of the first call of the test split of dataset $1: a call held out from training,
# as a new call would be (calls.jsonl has one call per line, keys in sorted order).
test_call_of() {
  local line
  line=$(grep -m1 '"split":"test"' "$1/calls.jsonl" || true)
  if [[ -z "$line" ]]; then
    echo "demo: $1/calls.jsonl has no call of the test split" >&2
    return 1
  fi
  printf '%s/%s\n' "$1" "$(sed -n 's/^.*"audio":"\([^"]*\)".*$/\1/p' <<<"$line")"
}
# `demo.sh --test-call DATASET` prints that path and exits (tests/data/cli_test.cpp runs it).
if [[ "${1:-}" == "--test-call" ]]; then
  test_call_of "$2"
  exit
fi

cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
tenor=build/tenor
out=demo-out
rm -rf "$out"
mkdir -p "$out"
step() { printf '\n==> %s\n' "$*"; }

step "tenor data synth: 60 synthetic two-speaker calls (espeak-ng)"
$tenor data synth --out "$out/calls" --calls 60 --seed 1

step "tenor data validate"
$tenor data validate "$out/calls"

step "tenor data split: train/dev/test grouped by call and speaker, stratified by escalation"
$tenor data split "$out/calls" --out "$out/calls-split" --train 0.6 --dev 0.2 --test 0.2 >/dev/null
$tenor data stats "$out/calls-split"

first=$(ls "$out"/calls/audio/*.wav | head -n 1)
step "tenor features: frame-level prosody of the customer channel of $(basename "$first") (first rows)"
$tenor features "$first" --channel 1 --csv > "$out/features.csv"
head -n 4 "$out/features.csv" | cut -c 1-150

step "tenor data build: features and tokens into one HDF5 store"
$tenor data build "$out/calls-split" --out "$out/features.h5"

step "tenor train: the linear baseline, then the prosody-plus-text fusion model"
$tenor train --config configs/demo-linear.yaml
$tenor train --config configs/demo.yaml

step "tenor eval: held-out test calls (disjoint speakers), intervals from resampling calls"
$tenor eval --run "$out/runs/demo" --data "$out/features.h5" --split test --out "$out/report" \
  --audio "$out/calls-split"

step "tenor eval compare: fusion model against the baseline"
$tenor eval compare "$out/runs/demo-linear" "$out/runs/demo" --data "$out/features.h5" --split test || true

step "tenor export: ONNX bundle of the fusion model, refused unless ONNX Runtime matches LibTorch"
$tenor export --run "$out/runs/demo" --out "$out/bundle"
$tenor export verify "$out/bundle"

test_call=$(test_call_of "$out/calls-split")
step "tenor predict: raw audio of $(basename "$test_call"), a call of the test split, in; per-window scores out (ONNX Runtime)"
$tenor predict --bundle "$out/bundle" "$test_call" --channels agent=0,customer=1 --window 5 \
  --out "$out/predict.json"
head -n 24 "$out/predict.json"

printf '\nDone. Open %s/report/report.html (its call links open a page per call, with the audio of\neach turn); the release bundle is %s/bundle; datasets, store and runs are in %s/.\n' "$out" "$out" "$out"
