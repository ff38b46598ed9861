#!/usr/bin/env bash
# Batch prediction against one `tenor predict` process per call, side by side in one run, on the
# same N calls of ../shared/data/ravdess-anger (2.4 s clips) and the same model: a small run this
# script trains (2 epochs of configs/ravdess-anger.yaml) and, with --model bundle (default), its
# exported bundle in ONNX Runtime (needs tools/ort/node_modules). Builds nothing: needs
# build/tenor (or --tenor PATH).
#
#   bench/predict_batch.sh [--calls N] [--model bundle|run] [--tenor PATH] [--data DIR]
#
# Rows: one process per call (`tenor predict MODEL CALL.wav --transcript T.jsonl`, one after
# the other), `--list FILES.txt` and `--dataset DIR` (an N-call copy of the dataset's
# calls.jsonl linking its audio), each scoring the same calls; wall time includes process
# start, model loading and, for a bundle, ONNX Runtime's start. Checks that the three give the
# same probabilities (max |delta| printed) and prints a Markdown block for docs/benchmarks.md.
# A last row times `tenor data build` of the same calls: the features alone, the floor.
set -euo pipefail
cd "$(dirname "$0")/.."

calls=48 model=bundle tenor=build/tenor data=../shared/data/ravdess-anger
while [[ $# -gt 0 ]]; do
  case "$1" in
    --calls) calls=$2; shift 2 ;;
    --model) model=$2; shift 2 ;;
    --tenor) tenor=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "predict_batch.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
[[ $model == bundle || $model == run ]] || { echo "predict_batch.sh: --model is bundle or run" >&2; exit 2; }
[[ -x $tenor ]] || { echo "predict_batch.sh: $tenor is not built; run scripts/build.sh" >&2; exit 2; }
[[ -f $data/calls.jsonl ]] || { echo "predict_batch.sh: $data is absent" >&2; exit 2; }
data=$(cd "$data" && pwd)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
$tenor data build "$data" --out "$work/store.h5" --no-progress >/dev/null 2>&1
$tenor train --config configs/ravdess-anger.yaml --set features="$work/store.h5" \
  --set out="$work/run" --set epochs=2 --set normalize_loudness=false --set "drop_features=[]" \
  --set augment.probability=0 --set selection=clean --set calibration=clean \
  --set 'speech_encoder=""' >/dev/null 2>&1
if [[ $model == bundle ]]; then
  $tenor export --run "$work/run" --out "$work/bundle" >/dev/null 2>&1
  model_args=(--bundle "$work/bundle")
else
  model_args=(--run "$work/run")
fi

# N calls spread over the dataset: their transcripts, the list, and an N-call dataset.
mkdir -p "$work/t" "$work/ds"
python3 - "$data" "$work" "$calls" <<'PY'
import json, os, sys
data, work, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
calls = [json.loads(l) for l in open(os.path.join(data, "calls.jsonl")) if l.strip()]
step = max(1, len(calls) // n)
picked = calls[::step][:n]
with open(os.path.join(work, "list.txt"), "w") as lst, \
     open(os.path.join(work, "ds", "calls.jsonl"), "w") as ds:
    for c in picked:
        t = os.path.join(work, "t", c["call_id"] + ".jsonl")
        with open(t, "w") as f:
            for s in c["segments"]:
                f.write(json.dumps({k: s[k] for k in ("start", "end", "speaker", "text")}) + "\n")
        lst.write(os.path.join(data, c["audio"]) + "\t" + t + "\n")
        ds.write(json.dumps(c) + "\n")
print(len(picked))
PY
cp "$data/dataset.yaml" "$work/ds/"
ln -s "$data/audio" "$work/ds/audio"
n=$(wc -l < "$work/list.txt")
audio_s=$(python3 - "$work/list.txt" <<'PY'
import sys, wave
print(f"{sum(w.getnframes() / w.getframerate() for w in (wave.open(l.split(chr(9))[0]) for l in open(sys.argv[1]) if l.strip())):.1f}")
PY
)

now() { date +%s.%N; }
mkdir -p "$work/one"
t0=$(now)
while IFS=$'\t' read -r wav transcript; do
  id=$(basename "$wav" .wav)
  $tenor --log-level error predict "${model_args[@]}" "$wav" --transcript "$transcript" \
    --out "$work/one/$id.json"
done < "$work/list.txt"
t1=$(now)
$tenor --log-level error predict "${model_args[@]}" --list "$work/list.txt" --out "$work/list.jsonl" --no-progress
t2=$(now)
$tenor --log-level error predict "${model_args[@]}" --dataset "$work/ds" --out "$work/dataset.jsonl" --no-progress
t3=$(now)
# The floor: the same calls' features alone (`tenor data build`, the extractor batch
# predict calls per call), in one process.
$tenor --log-level error data build "$work/ds" --out "$work/features.h5" --no-progress >/dev/null 2>&1
t4=$(now)

delta=$(python3 - "$work" <<'PY'
import glob, json, os, sys
work = sys.argv[1]
one = {}
for f in glob.glob(os.path.join(work, "one", "*.json")):
    j = json.load(open(f))
    for s in j["segments"]:
        one[(j["call_id"], s["segment"])] = s["tasks"]
worst = 0.0
for name in ("list.jsonl", "dataset.jsonl"):
    lines = [json.loads(l) for l in open(os.path.join(work, name))]
    assert len(lines) == len(one), (name, len(lines), len(one))
    for l in lines:
        ref = one[(os.path.basename(l["call_id"]), l["segment"])]
        for task, t in ref.items():
            assert l["tasks"][task]["decision"] == t["decision"], (name, l["call_id"])
            worst = max(worst, max(abs(a - b) for a, b in zip(l["tasks"][task]["probs"], t["probs"])))
print(f"{worst:.1e}")
PY
)

rate() { python3 -c "print(f'{$n / ($2 - $1):.2f}')"; }
secs() { python3 -c "print(f'{$2 - $1:.1f}')"; }
one_rate=$(rate "$t0" "$t1") list_rate=$(rate "$t1" "$t2") ds_rate=$(rate "$t2" "$t3")
echo "| tenor predict --$model, $n ravdess-anger calls ($audio_s s of audio), $(nproc) cores | seconds | calls/s | vs one process per call |"
echo "|---|---|---|---|"
echo "| one \`tenor predict\` process per call | $(secs "$t0" "$t1") | $one_rate | 1.00x |"
echo "| \`--list FILES.txt\` (one process) | $(secs "$t1" "$t2") | $list_rate | $(python3 -c "print(f'{$list_rate / $one_rate:.1f}x')") |"
echo "| \`--dataset DIR\` (one process) | $(secs "$t2" "$t3") | $ds_rate | $(python3 -c "print(f'{$ds_rate / $one_rate:.1f}x')") |"
echo "| features alone: \`tenor data build\` of the same calls | $(secs "$t3" "$t4") | $(rate "$t3" "$t4") | |"
echo
echo "Same decisions on every segment; max |delta p| against one process per call: $delta."
