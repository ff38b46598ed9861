#!/usr/bin/env bash
# Installs what is missing, builds, and runs tenor end to end on generated sample
# calls (espeak-ng speech): synthesise -> validate -> split (speaker-disjoint) ->
# stats and agreement -> frame-level prosody of one call. Output in demo-out/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
tenor=build/tenor
out=demo-out
rm -rf "$out"
mkdir -p "$out"
step() { printf '\n==> %s\n' "$*"; }

step "tenor data synth: 24 synthetic two-speaker calls"
$tenor data synth --out "$out/calls" --calls 24 --seed 1

step "tenor data validate"
$tenor data validate "$out/calls"

step "tenor data split: train/dev/test grouped by call and speaker, stratified by escalation"
$tenor data split "$out/calls" --out "$out/calls-split" --train 0.7 --dev 0.15 --test 0.15

step "tenor data stats (labels per split, hours, speakers, annotator agreement)"
$tenor data stats "$out/calls-split"

if $tenor features --help >/dev/null 2>&1; then
  first=$(ls "$out"/calls/audio/*.wav | head -n 1)
  step "tenor features: frame-level prosody of the customer channel of $(basename "$first") (first rows)"
  $tenor features "$first" --channel 1 --csv | head -n 8
fi
printf '\nDone: the datasets are in %s/.\n' "$out"
