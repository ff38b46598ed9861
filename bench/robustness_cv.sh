#!/usr/bin/env bash
# Choosing an audio config for robustness on every speaker outside the test split, not on the
# dev split's few (RAVDESS: 4 actors, 80 clips, where the choice of one pass did not carry to
# test; docs/benchmarks.md, "Eleventh pass"). The non-test calls are cut into K speaker folds
# (`tenor data split --folds K`, seed 1: grouped by speaker, stratified by label); per fold and
# config, one run (training seed SEED) is trained with that fold as dev and scored on
# degraded copies of it (bench/robustness.sh, SPLIT=dev); the table gives per config
# the mean over folds of each condition's macro-F1 and of each run's worst condition but 0 dB.
#   [K=5] [SEED=1] [CONFIG=configs/ravdess-anger.yaml] bench/robustness_cv.sh WORK NAME "SETS" [NAME "SETS"]...
# SETS: the `tenor train` options of that config on top of CONFIG, e.g. "--set drop_features=[]"
# ("" for CONFIG as it is); a word `build:OPTION` is a `tenor data build` option of that
# config's stores instead. A config whose `speech_encoder` names one (as CONFIG does) gets
# stores built with `--speech-encoder` it, in its `speech_window` ("--set speech_window=clip"
# builds clip stores); '--set speech_encoder="" --set augment.copies=0' is
# the prosody-only model (stores are kept per build options). WORK keeps folds, stores, runs
# and copies between calls; a run already trained is reused. Configs run one after another
# (THREADS=1 each by default); run one call at a time on a WORK.
set -euo pipefail -o noglob  # SETS may hold globs (drop_features=[logmel_*])
cd "$(dirname "$0")/.."
tenor=${TENOR:-build/tenor}
dataset=${DATASET:-../shared/data/ravdess-anger}
config=${CONFIG:-configs/ravdess-anger.yaml}
k=${K:-5}
seed=${SEED:-1}
threads=${THREADS:-1}
work=${1:?usage: bench/robustness_cv.sh WORK NAME "SETS" [NAME "SETS"]...}
shift
(($# >= 2 && $# % 2 == 0)) || { echo "usage: bench/robustness_cv.sh WORK NAME \"SETS\" [NAME \"SETS\"]..." >&2; exit 2; }
[[ -d $work/folds ]] || $tenor data split "$dataset" --folds "$k" --out "$work/folds"
mkdir -p "$work/runs"
names=()
while (($# > 0)); do
  name=$1
  build=() train=()
  for word in $2; do  # noglob: words are split, never expanded
    if [[ $word == build:* ]]; then build+=("${word#build:}"); else train+=("$word"); fi
  done
  shift 2
  names+=("$name")
  # The speech encoder the resolved config reads, unless a build: word names one.
  # The speech encoder and window the resolved config reads, unless a build: word names them
  # (padded, the build's default, is not named, so that its stores keep their key).
  resolved=$($tenor train --config "$config" "${train[@]}" --dump-config)
  speech=$(sed -n 's/^speech_encoder: *//p' <<<"$resolved" | tr -d "\"'")
  window=$(sed -n 's/^speech_window: *//p' <<<"$resolved" | tr -d "\"'")
  if [[ -n $speech && " ${build[*]} " != *" --speech-encoder"* ]]; then
    build+=("--speech-encoder=$speech")
  fi
  if [[ -n $window && $window != padded && " ${build[*]} " != *" --speech-window"* ]]; then
    build+=("--speech-window=$window")
  fi
  # The fold stores of these build options: fold$f.h5 without any, else keyed by them.
  key=""
  ((${#build[@]})) && key=-$(printf '%s\n' "${build[@]}" | sha256sum | cut -c1-8)
  for ((f = 1; f <= k; f++)); do
    store=$work/fold$f$key.h5 log=$work/fold$f$key.build.log
    [[ -f $store ]] ||
      $tenor data build "$work/folds/fold$f" --out "$store" --no-progress "${build[@]}" \
        >"$log" 2>&1 ||
      { echo "bench/robustness_cv.sh: building $store failed; see $log" >&2; exit 1; }
    run=$work/runs/$name-fold$f
    if [[ ! -f $run/result.json ]]; then
      $tenor train --config "$config" --set features="$store" --set out="$run" \
        --set threads="$threads" --set seed="$seed" "${train[@]}" >"$run.log" 2>&1 ||
        { echo "bench/robustness_cv.sh: training $name on fold $f failed; see $run.log" >&2; exit 1; }
    fi
    DATASET=$work/folds/fold$f SPLIT=dev SEED=2 bench/robustness.sh "$work/rob-fold$f" "$run" >/dev/null
  done
done
python3 - "$work" "$k" "${names[@]}" <<'PY'
import sys
work, k, names = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
conds = ["clean", "telephone-mulaw", "agc", "gain-20dB", "noise-10dB", "noise-0dB", "reverb-0.5s"]
score = {}
for f in range(1, k + 1):
    for line in list(open(f"{work}/rob-fold{f}/results-dev.tsv"))[1:]:
        run, cond, value = line.split("\t")[:3]
        score[(run, cond)] = float(value)
print("| config | " + " | ".join(conds) + " | mean worst (no 0 dB) | worst per fold |")
print("|---|" + "---|" * (len(conds) + 2))
for name in names:
    runs = [f"{name}-fold{f}" for f in range(1, k + 1)]
    means = [sum(score[(r, c)] for r in runs) / k for c in conds]
    worst = [min(score[(r, c)] for c in conds if c != "noise-0dB") for r in runs]
    print(f"| {name} | " + " | ".join(f"{m:.3f}" for m in means) +
          f" | {sum(worst) / k:.3f} | " + " / ".join(f"{w:.3f}" for w in worst) + " |")
PY
