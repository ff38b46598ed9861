#!/usr/bin/env bash
# Model quality on the real sets in ../shared/data, on their speaker-disjoint test
# splits as shipped: each config's model and the linear baseline, evaluated with
# call-bootstrap 95% intervals. Prints markdown rows for docs/benchmarks.md.
# The text sets also train the fusion model with and without the previous segment as context
# (model.context_tokens: on in configs/meld-anger.yaml, off in configs/epitome-empathy.yaml);
# paired call-bootstrap p-values (tenor eval compare) follow the table.
# With stores/glove-6b-100d.txt (tools/word-vectors/fetch.sh) EPITOME is also trained with
# its token embeddings starting from GloVe (model.word_vectors). With TRANSFORMER=1 the text
# sets are also trained with configs/text-transformer.yaml (a pretrained encoder fine-tuned;
# about an hour a set on 2 CPU cores) and compared with their own config.
#   bench/quality.sh [WORKDIR]      (default: runs/quality; stores are reused)
set -euo pipefail
cd "$(dirname "$0")/.."
tenor=build/tenor
shared=../shared/data
work=${1:-runs/quality}
glove=stores/glove-6b-100d.txt  # tools/word-vectors/fetch.sh; EPITOME also runs with it when present
mkdir -p "$work"
row() {  # report.json task metric -> "0.912 [0.880, 0.941]"
  python3 - "$1" "$2" "$3" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
t = next(t for t in r["tasks"] if t["name"] == sys.argv[2])
m = t["metrics"][sys.argv[3]]
fmt = lambda x: "n/a" if x is None else f"{x:.3f}"
print(f"{fmt(m['value'])} [{fmt(m['ci_low'])}, {fmt(m['ci_high'])}]")
PY
}
run() {  # name config store extra-set...
  local name=$1 config=$2 store=$3; shift 3
  $tenor train --config "$config" --set features="$store" --set out="$work/$name" "$@" >/dev/null 2>&1
  $tenor eval --run "$work/$name" --data "$store" --split test --out "$work/$name-report" >/dev/null 2>&1
}
compares=()
compare() {  # store run-a run-b: queue a paired comparison, printed after the table
  compares+=("$1 $2 $3")
}
build() {  # set [data build option...] -> store
  local set=$1; shift
  local store=$work/$set.h5
  [[ -f $store ]] || $tenor data build "$shared/$set" --out "$store" --no-progress "$@" >/dev/null 2>&1
  echo "$store"
}
echo "| set | task | model | test macro-F1 [95% CI] | other |"
echo "|---|---|---|---|---|"
if [[ -d $shared/ravdess-anger ]]; then
  s=$(build ravdess-anger --speech-encoder whisper-tiny-en)
  # the shipped config (loudness-normalised, augmented, reading Whisper's states), the
  # store-only prosody model it replaced (the Whisper columns dropped), and the linear
  # baseline on the same
  plain=(--set normalize_loudness=false --set augment.probability=0 --set selection=clean
         --set calibration=clean --set "drop_features=[speech_*]" --set augment.copies=0)
  run ravdess configs/ravdess-anger.yaml "$s"
  run ravdess-plain configs/ravdess-anger.yaml "$s" "${plain[@]}"
  run ravdess-linear configs/ravdess-anger.yaml "$s" "${plain[@]}" --set model.type=linear \
    --set optim.lr=0.01
  compare "$s" ravdess-linear ravdess
  compare "$s" ravdess-plain ravdess
  for r in ravdess ravdess-plain ravdess-linear; do
    echo "| ravdess-anger | escalation | $r | $(row "$work/$r-report/report.json" escalation macro_f1) | AUROC $(row "$work/$r-report/report.json" escalation auroc) |"
  done
fi
if [[ -d $shared/epitome-empathy ]]; then
  s=$(build epitome-empathy)
  run epitome configs/epitome-empathy.yaml "$s"
  run epitome-context configs/epitome-empathy.yaml "$s" --set model.context_tokens=64
  run epitome-linear configs/epitome-empathy.yaml "$s" --set model.type=linear --set optim.lr=0.01
  compare "$s" epitome-linear epitome
  compare "$s" epitome epitome-context
  runs=(epitome epitome-context epitome-linear)
  if [[ -s $glove ]]; then
    run epitome-glove configs/epitome-empathy.yaml "$s" \
      --set model.embedding_dim=100 --set model.word_vectors="$glove"
    compare "$s" epitome-linear epitome-glove
    runs+=(epitome-glove)
  fi
  if [[ ${TRANSFORMER:-0} == 1 ]]; then
    run epitome-transformer configs/text-transformer.yaml "$s"
    compare "$s" epitome epitome-transformer
    runs+=(epitome-transformer)
  fi
  for r in "${runs[@]}"; do
    for t in emotional_reactions interpretations explorations; do
      echo "| epitome-empathy | $t | $r | $(row "$work/$r-report/report.json" $t macro_f1) | accuracy $(row "$work/$r-report/report.json" $t accuracy) |"
    done
  done
fi
if [[ -d $shared/meld-anger ]]; then
  s=$(build meld-anger)
  run meld configs/meld-anger.yaml "$s"
  run meld-nocontext configs/meld-anger.yaml "$s" --set model.context_tokens=0
  run meld-linear configs/meld-anger.yaml "$s" --set model.type=linear --set optim.lr=0.01
  compare "$s" meld-linear meld
  compare "$s" meld-linear meld-nocontext
  compare "$s" meld-nocontext meld
  runs=(meld meld-nocontext meld-linear)
  if [[ ${TRANSFORMER:-0} == 1 ]]; then
    run meld-transformer configs/text-transformer.yaml "$s"
    compare "$s" meld meld-transformer
    runs+=(meld-transformer)
  fi
  for r in "${runs[@]}"; do
    echo "| meld-anger | escalation | $r | $(row "$work/$r-report/report.json" escalation macro_f1) | AUPRC $(row "$work/$r-report/report.json" escalation auprc) |"
  done
fi
echo
echo "| set | A | B | task | metric | A | B | B - A [95% CI] | p (paired) |"
echo "|---|---|---|---|---|---|---|---|---|"
for c in "${compares[@]}"; do
  read -r store a b <<<"$c"
  $tenor eval compare "$work/$a" "$work/$b" --data "$store" --out "$work/compare-$a-$b" \
    >/dev/null 2>&1
  python3 - "$work/compare-$a-$b/comparison.json" "$(basename "$store" .h5)" "$a" "$b" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
for r in j["rows"]:
    if r["metric"] not in ("macro_f1", "auprc"):
        continue
    print(f"| {sys.argv[2]} | {sys.argv[3]} | {sys.argv[4]} | {r['task']} | {r['metric']} | "
          f"{r['a']:.3f} | {r['b']:.3f} | {r['delta']:+.3f} [{r['delta_ci_low']:+.3f}, "
          f"{r['delta_ci_high']:+.3f}] | {r['p_value']:.3f} |")
PY
done
