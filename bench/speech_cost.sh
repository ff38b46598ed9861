#!/usr/bin/env bash
# What the Whisper states cost a whole `tenor train` of configs/ravdess-anger.yaml as shipped
# (augmentation, `augment.copies`, the degraded dev copies of `selection: worst` and
# `calibration: degraded`, each of whose rows the encoder reads again), against training from
# the store (no augmentation, clean selection and calibration: the encoder never runs), for
# each speech window of `tenor data build --speech-window` (issue 20's budget: within 2x of
# training from the store), side by side in one call; the prosody-only model shipped before
# gives its own ratio on a store without the states. Per run: the wall time of the whole
# command, a fixed number of epochs (no early stop), the same seed; and, as
# bench/augment_bench.sh reports it, training segments per second over the epochs after the
# first (the dev evaluation, the degraded dev copies and calibration outside them).
# THREADS=0 (the default, as configs/ravdess-anger.yaml trains): an augmenting run trains on half
# of the cores and reads the next batches ahead on the rest (docs/training.md).
#   [TENOR=build/tenor] [EPOCHS=12] [THREADS=0] [WINDOWS="padded clip"] bench/speech_cost.sh [WORK]
# WORK (default: a temporary directory) keeps the stores between calls (timed when built).
set -euo pipefail
cd "$(dirname "$0")/.."
tenor=${TENOR:-build/tenor}
epochs=${EPOCHS:-12}
threads=${THREADS:-0}
windows=${WINDOWS:-padded clip}
dataset=../shared/data/ravdess-anger
[[ -d $dataset ]] || { echo "bench/speech_cost.sh: $dataset is missing" >&2; exit 2; }
if [[ -n ${1:-} ]]; then
  work=$1
  mkdir -p "$work"
else
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
fi
now() { date +%s.%N; }
# STORE [BUILD OPTION...]: builds STORE unless it is there; prints the seconds it took, or "kept".
build() {
  local store=$1
  shift
  if [[ -f $store ]]; then echo kept; return; fi
  local t0
  t0=$(now)
  $tenor data build "$dataset" --out "$store" --no-progress "$@" >"$store.log" 2>&1 ||
    { echo "bench/speech_cost.sh: building $store failed; see $store.log" >&2; exit 1; }
  python3 -c "print(f'{$(now) - $t0:.0f} s')"
}
common=(--set epochs="$epochs" --set patience=1000 --set checkpoint_every_steps=100000
        --set threads="$threads" --set seed=1)
from_store=(--set augment.probability=0 --set selection=clean --set calibration=clean)
# NAME STORE [--set ...]: trains one run, prints its seconds.
train() {
  local name=$1 store=$2
  shift 2
  local t0
  t0=$(now)
  $tenor train --config configs/ravdess-anger.yaml --set features="$store" \
    --set out="$work/runs/$name" "${common[@]}" "$@" >"$work/$name.log" 2>&1 ||
    { echo "bench/speech_cost.sh: training $name failed; see $work/$name.log" >&2; exit 1; }
  python3 -c "print($(now) - $t0)"
}
rm -rf "$work/runs"
rate() { python3 bench/train/run_rate.py "$work/runs/$1"; }
# NAME BUILD STORE_RUN SHIPPED_RUN SECONDS_STORE SECONDS_SHIPPED: one row.
row() {
  printf '| %s | %s | %.0f s | %.0f s | %.2fx | %.0f | %.0f | %.2fx |\n' "$1" "$2" "$5" "$6" \
    "$(python3 -c "print($6 / $5)")" "$(rate "$3")" "$(rate "$4")" \
    "$(python3 -c "print($(rate "$3") / $(rate "$4"))")"
}
echo "| ravdess-anger, $epochs epochs, threads $threads, cpu | store build |" \
  "whole run from the store | whole run as shipped | ratio |" \
  "segments/s from the store | segments/s as shipped | ratio |"
echo "|---|---|---|---|---|---|---|---|"
plain_build=$(build "$work/plain.h5")
prosody=(--set 'speech_encoder=""' --set augment.copies=0)
a=$(train plain-store "$work/plain.h5" "${prosody[@]}" "${from_store[@]}")
b=$(train plain-shipped "$work/plain.h5" "${prosody[@]}")
row "prosody only (no speech encoder, augment.copies 0)" "$plain_build" plain-store \
  plain-shipped "$a" "$b"
for w in $windows; do
  store=$work/speech-$w.h5
  speech_build=$(build "$store" --speech-encoder whisper-tiny-en --speech-window "$w")
  a=$(train "$w-store" "$store" "${from_store[@]}" --set speech_window="$w")
  b=$(train "$w-shipped" "$store" --set speech_window="$w")
  row "Whisper states, --speech-window $w" "$speech_build" "$w-store" "$w-shipped" "$a" "$b"
done
