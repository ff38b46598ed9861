#!/usr/bin/env bash
# Robustness of trained runs to other recording chains: each run scored on degraded copies of
# one split of RAVDESS (`tenor data degrade`, the ops of `tenor train`'s augment), zero-shot,
# with the run's own decision rules (`tenor eval --run R --dataset D`). Trains nothing.
#   [TENOR=build/tenor] [SPLIT=test] [SEED=1] [SVG=FILE] bench/robustness.sh [WORK] RUN...
# WORK (default runs/robustness) keeps the degraded copies (WORK/SPLIT/CONDITION) and the
# evaluations (WORK/eval-SPLIT-RUN-CONDITION, with eval.log) between calls. Prints a table of
# escalation macro-F1 [95 % call-bootstrap interval] per run and condition, writes
# WORK/results-SPLIT.tsv (the rows of earlier calls' other runs kept) and, with SVG, a plot of
# macro-F1 per condition, one line per run given.
# Choose a config on SPLIT=dev (the degraded dev copies use SEED, e.g. 2); report SPLIT=test.
set -euo pipefail
cd "$(dirname "$0")/.."
tenor=${TENOR:-build/tenor}
dataset=${DATASET:-../shared/data/ravdess-anger}
split=${SPLIT:-test}
seed=${SEED:-1}
work=${1:-runs/robustness}
shift || true
(($# > 0)) || { echo "usage: bench/robustness.sh [WORK] RUN..." >&2; exit 2; }
for run in "$@"; do  # before any degraded copy is made
  [[ -f $run/config.yaml ]] || { echo "bench/robustness.sh: $run is not a tenor run" >&2; exit 2; }
done
mkdir -p "$work/$split"
# name and --ops of each condition (docs/benchmarks.md, issue 20 item 4)
conditions=(
  "clean:"
  "telephone-mulaw:mulaw"
  "agc:agc=-20"
  "gain-20dB:gain=-20"
  "noise-10dB:noise=10"
  "noise-0dB:noise=0"
  "reverb-0.5s:reverb=0.5"
)
# clean: the split's calls alone, the audio linked (tenor eval --dataset extracts every call
# of a dataset, not only the split it scores)
if [[ ! -d $work/$split/clean ]]; then
  rm -rf "$work/$split/clean.tmp" && mkdir "$work/$split/clean.tmp"
  for f in "$dataset"/*; do
    [[ $(basename "$f") == calls.jsonl ]] || ln -s "$(realpath "$f")" "$work/$split/clean.tmp/"
  done
  python3 -c 'import json, sys
for line in open(sys.argv[1]):
    if line.strip() and json.loads(line).get("split") == sys.argv[2]: print(line, end="")' \
    "$dataset/calls.jsonl" "$split" >"$work/$split/clean.tmp/calls.jsonl"
  mv "$work/$split/clean.tmp" "$work/$split/clean"
fi
for c in "${conditions[@]}"; do
  name=${c%%:*} ops=${c#*:}
  [[ -z $ops || -d $work/$split/$name ]] && continue
  if ! $tenor data degrade "$dataset" --out "$work/$split/$name" --ops "$ops" --split "$split" \
      --seed "$seed" >"$work/$split/$name.log" 2>&1; then
    echo "bench/robustness.sh: tenor data degrade --ops $ops failed:" >&2
    cat "$work/$split/$name.log" >&2
    exit 1
  fi
done
metric() {  # report.json -> "value ci_low ci_high"
  python3 - "$1" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
m = next(t for t in r["tasks"] if t["name"] == "escalation")["metrics"]["macro_f1"]
print(" ".join("nan" if m[k] is None else f"{m[k]:.3f}" for k in ("value", "ci_low", "ci_high")))
PY
}
tsv=$work/results-$split.tsv
names=()
for run in "$@"; do names+=("$(basename "$run")"); done
# This call's rows are gathered apart and replace those of the same runs once all are scored:
# an interrupted call leaves the table as it was.
rows=$(mktemp "$work/rows.XXXXXX")
trap 'rm -f "$rows"' EXIT
header="| run |" rule="|---|"
for c in "${conditions[@]}"; do header+=" ${c%%:*} |"; rule+="---|"; done
echo "$header"
echo "$rule"
failed=0
for run in "$@"; do
  line="| $(basename "$run") |"
  for c in "${conditions[@]}"; do
    name=${c%%:*} ops=${c#*:}
    data=$work/$split/$name
    out=$work/eval-$split-$(basename "$run")-$name
    rm -rf "$out"
    if $tenor eval --run "$run" --dataset "$data" --split "$split" --out "$out" \
        >"$out.log" 2>&1; then
      read -r v lo hi < <(metric "$out/report.json")
      printf '%s\t%s\t%s\t%s\t%s\n' "$(basename "$run")" "$name" "$v" "$lo" "$hi" >>"$rows"
      line+=" $v [$lo, $hi] |"
    else
      line+=" failed ($out.log) |"
      failed=1
    fi
  done
  echo "$line"
done
# rows of earlier calls stay, those of the runs scored now are replaced
{
  if [[ -f $tsv ]]; then
    awk -F'\t' -v drop=" ${names[*]} " 'NR == 1 || index(drop, " " $1 " ") == 0' "$tsv"
  else
    printf 'run\tcondition\tmacro_f1\tci_low\tci_high\n'
  fi
  cat "$rows"
} >"$tsv.tmp"
mv "$tsv.tmp" "$tsv"
[[ -n ${SVG:-} ]] && python3 bench/robustness_plot.py "$tsv" "$SVG" "RAVDESS $split" "${names[@]}"
exit "$failed"
