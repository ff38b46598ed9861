#!/usr/bin/env bash
# The cost of waveform augmentation (`augment:` in tenor train): configs/ravdess-anger.yaml
# without its loudness normalisation, trained from the store alone and with augmentation at
# each of the given shares of rows (augment.probability, every op at the config's
# probability), side by side in one run.
#   [TENOR=build/tenor] bench/augment_bench.sh [STORE] [THREADS] [DEVICE] [PROBABILITIES]
# STORE defaults to a ravdess-anger store built on the fly from ../shared/data; DEVICE to
# cpu; PROBABILITIES to "0.2 0.5 1" (0.2: the share configs/ravdess-anger.yaml trains
# with). Each run is 3 epochs, the first a warm-up not timed.
# CONSISTENCY=W adds, for each share, a run with augment.consistency W (the clean rows'
# extra forward and backward, docs/training.md).
# SPEAKER=1 adds, for each share, a run with speaker_normalization call, whose augmentation
# reads each augmented speaker's turns in the call once more for their means (docs/training.md):
# give it a STORE of calls of several turns (bench/ravdess_calls.py) to see that cost.
# MEMBERS=K adds a store-only run and, for each share, a run of an ensemble of K fusion
# models (model.members: one augmentation and extraction, K forward and backward passes).
set -euo pipefail
cd "$(dirname "$0")/.."
tenor=${TENOR:-build/tenor}
store=${1:-}
threads=${2:-1}
device=${3:-cpu}
probabilities=${4:-0.2 0.5 1}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [[ -z $store ]]; then
  store=$work/ravdess.h5
  $tenor data build ../shared/data/ravdess-anger --out "$store" --no-progress 2>/dev/null
fi
common=(--set features="$store" --set epochs=3 --set patience=10 --set checkpoint_every_steps=100000
        --set threads="$threads" --device "$device" --set normalize_loudness=false
        --set "drop_features=[]"
        --set selection=clean --set calibration=clean --set augment.noise_data_share=0
        --set 'speech_encoder=""' --set augment.copies=0)
# Training segments over the seconds of the timed epochs (the dev evaluation is outside).
rate() { python3 bench/train/run_rate.py "$1"; }
wait_share() { python3 -c "print(100 * $(python3 bench/train/run_rate.py "$1" data_wait))"; }
$tenor train --config configs/ravdess-anger.yaml --set out="$work/plain" "${common[@]}" \
  --set augment.probability=0 >/dev/null 2>&1
base=$(rate "$work/plain")
echo "| ravdess-anger, fusion, batch 32, $threads thread(s), $device | segments/s | data-wait share | slowdown |"
echo "|---|---|---|---|"
printf '| from the store | %.1f | %.1f %% | 1.00x |\n' "$base" "$(wait_share "$work/plain")"
row() {  # NAME OUT [--set ...]: trains one run and prints its row
  local name=$1 out=$2
  shift 2
  $tenor train --config configs/ravdess-anger.yaml --set out="$out" "${common[@]}" "$@" \
    >/dev/null 2>&1
  local r
  r=$(rate "$out")
  printf '| %s | %.1f | %.1f %% | %.2fx |\n' "$name" "$r" "$(wait_share "$out")" \
    "$(python3 -c "print($base/$r)")"
}
if [[ -n ${MEMBERS:-} ]]; then
  row "from the store, model.members $MEMBERS" "$work/plain-m" --set augment.probability=0 \
    --set model.members="$MEMBERS"
fi
for p in $probabilities; do
  row "augment.probability $p" "$work/aug-$p" --set augment.probability="$p"
  if [[ -n ${MEMBERS:-} ]]; then
    row "augment.probability $p, model.members $MEMBERS" "$work/aug-$p-m" \
      --set augment.probability="$p" --set model.members="$MEMBERS"
  fi
  if [[ -n ${CONSISTENCY:-} ]]; then
    row "augment.probability $p, consistency $CONSISTENCY" "$work/aug-$p-c" \
      --set augment.probability="$p" --set augment.consistency="$CONSISTENCY"
  fi
  if [[ -n ${SPEAKER:-} ]]; then
    row "augment.probability $p, speaker_normalization call" "$work/aug-$p-s" \
      --set augment.probability="$p" --set speaker_normalization=call
  fi
done
