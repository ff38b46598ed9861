#!/usr/bin/env bash
# Robustness of trained runs to other recording chains: each run scored on degraded copies of
# the RAVDESS test split (`tenor data degrade`, the ops of `tenor train`'s augment), zero-shot,
# with the run's own decision rules (`tenor eval --run R --dataset D`). Trains nothing.
#   [TENOR=build/tenor] bench/robustness.sh [WORK] RUN...
# WORK (default runs/robustness) keeps the degraded datasets between calls; a table of
# escalation macro-F1 [95 % call-bootstrap interval] per run and condition is printed.
set -euo pipefail
cd "$(dirname "$0")/.."
tenor=${TENOR:-build/tenor}
dataset=${DATASET:-../shared/data/ravdess-anger}
work=${1:-runs/robustness}
shift || true
(($# > 0)) || { echo "usage: bench/robustness.sh [WORK] RUN..." >&2; exit 2; }
mkdir -p "$work"
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
for c in "${conditions[@]}"; do
  name=${c%%:*} ops=${c#*:}
  [[ -z $ops || -d $work/$name ]] && continue
  $tenor data degrade "$dataset" --out "$work/$name" --ops "$ops" --split test >/dev/null 2>&1
done
metric() {  # report.json -> "0.912 [0.880, 0.941]"
  python3 - "$1" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
m = next(t for t in r["tasks"] if t["name"] == "escalation")["metrics"]["macro_f1"]
fmt = lambda x: "n/a" if x is None else f"{x:.3f}"
print(f"{fmt(m['value'])} [{fmt(m['ci_low'])}, {fmt(m['ci_high'])}]")
PY
}
header="| run |" rule="|---|"
for c in "${conditions[@]}"; do header+=" ${c%%:*} |"; rule+="---|"; done
echo "$header"
echo "$rule"
for run in "$@"; do
  line="| $(basename "$run") |"
  for c in "${conditions[@]}"; do
    name=${c%%:*} ops=${c#*:}
    data=$work/$name
    [[ -z $ops ]] && data=$dataset
    out=$work/eval-$(basename "$run")-$name
    rm -rf "$out"
    $tenor eval --run "$run" --dataset "$data" --split test --out "$out" >/dev/null 2>&1
    line+=" $(metric "$out/report.json") |"
  done
  echo "$line"
done
