#!/usr/bin/env bash
# The reference issue 20 sets for other recording chains, on the copies bench/robustness.sh
# makes: seven Praat F0 statistics per clip and a logistic regression fitted on the clean
# training split (bench/praat_baseline/baseline.py), scored on the clean and degraded copies
# of a split with the same table columns as robustness.sh, so the two compare side by side.
#   [SPLIT=test] bench/praat_baseline.sh WORK
# WORK: the robustness.sh work directory whose copies of SPLIT exist (run robustness.sh on
# that split first). Appends its rows (run `praat-pitch-7`) to WORK/results-SPLIT.tsv.
# Needs praat (apt install praat) and PyPI for scikit-learn, once (a cached venv).
set -euo pipefail
cd "$(dirname "$0")/.."
dataset=${DATASET:-../shared/data/ravdess-anger}
split=${SPLIT:-test}
work=${1:?usage: bench/praat_baseline.sh WORK}
command -v praat >/dev/null || { echo "praat_baseline.sh: praat is not installed (apt install praat)" >&2; exit 2; }
[[ -f $dataset/calls.jsonl ]] || { echo "praat_baseline.sh: no dataset at $dataset (DATASET=...)" >&2; exit 2; }
conditions=(clean telephone-mulaw agc gain-20dB noise-10dB noise-0dB reverb-0.5s)
for c in "${conditions[@]}"; do
  [[ -f $work/$split/$c/calls.jsonl ]] || {
    echo "praat_baseline.sh: $work/$split/$c is missing; run SPLIT=$split bench/robustness.sh $work RUN first" >&2
    exit 2
  }
done
source scripts/cached-venv.sh
venv=$(cached_venv pyref-scikit-learn-1.9.1 scikit-learn==1.9.1)
tsv=$work/results-$split.tsv
[[ -f $tsv ]] && { awk -F'\t' '$1 != "praat-pitch-7"' "$tsv" >"$tsv.tmp"; mv "$tsv.tmp" "$tsv"; }
header="| run |" rule="|---|"
for c in "${conditions[@]}"; do header+=" $c |"; rule+="---|"; done
echo "$header"
echo "$rule"
"$venv/bin/python" bench/praat_baseline/baseline.py "$dataset" "$work" "$split" praat-pitch-7 \
  "$(realpath bench/praat_baseline/pitch_features.praat)" "${conditions[@]}"
