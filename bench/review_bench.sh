#!/usr/bin/env bash
# `tenor data review` on labels flipped on purpose: for each set and fraction (5, 10, 20 %), a
# copy of the set with that share of each task's labels flipped (bench/review/flip.py, into a
# temporary directory; ../shared is never written), reviewed with the default model, then
# precision and recall at k = the number flipped, side by side with cleanlab (PyPI, pinned, in
# its own virtual environment in the cache) ranking the SAME out-of-fold probabilities
# (REVIEW/oof.jsonl), and the review's seconds per 1,000 segments. Prints a markdown table.
#   [TENOR=build/tenor] [FRACTIONS="0.05 0.10 0.20"] [SEEDS="1"] [CONFIG=configs/X.yaml]
#   [SET="k=v ..."] bench/review_bench.sh [SET ...]
#   (default sets: ravdess-anger epitome-empathy; CONFIG: the fold model, `data review --config`,
#   default the built-in logistic regression (eval/review_model.h); SET: `--set` overrides of
#   CONFIG, which they need; SEEDS: the flips' random seeds, one flipped copy per seed and
#   fraction, so a difference of one suspect can be told from the draw; runs at nice 10)
set -euo pipefail
cd "$(dirname "$0")/.."
tenor=${TENOR:-build/tenor}
shared=$(cd .. && pwd)/shared/data
fractions=${FRACTIONS:-"0.05 0.10 0.20"}
seeds=${SEEDS:-1}
model=()
[[ -z ${CONFIG:-} ]] || model=(--config "$CONFIG")
for kv in ${SET:-}; do model+=(--set "$kv"); done
sets=("$@")
[[ ${#sets[@]} -gt 0 ]] || sets=(ravdess-anger epitome-empathy)
cleanlab=2.9.0
source scripts/cached-venv.sh
venv=$(cached_venv "bench-cleanlab-$cleanlab" "cleanlab==$cleanlab" PyYAML==6.0.2)
python=$venv/bin/python
work=$(mktemp -d "${TMPDIR:-/tmp}/tenor-review-bench-XXXXXX")
trap 'rm -rf "$work"' EXIT
rows=$work/rows.jsonl
for set in "${sets[@]}"; do
  [[ -d $shared/$set ]] || { echo "review bench: no $shared/$set, skipped" >&2; continue; }
  for f in $fractions; do
    for seed in $seeds; do
      data=$work/$set-$f-$seed
      "$python" bench/review/flip.py "$shared/$set" "$data" "$f" "$seed"
      nice -n 10 "$tenor" data review "$data" --out "$data.review" --no-audio "${model[@]}" >&2
      "$python" bench/review/score.py "$data" "$data.review" "$set" "$f" "$seed" >> "$rows"
      rm -rf "$data" "$data.review"
    done
  done
done
python3 - "$rows" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print("| set | task | flipped | seed | k | tenor P@k | tenor R@k | cleanlab P@k | cleanlab R@k "
      "| same ranking | review s / 1,000 segments |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for r in rows:
    print(f"| {r['set']} | {r['task']} | {r['fraction'] * 100:.0f} % | {r['seed']} | {r['flipped']} "
          f"| {r['tenor_precision']:.3f} | {r['tenor_recall']:.3f} "
          f"| {r['cleanlab_precision']:.3f} | {r['cleanlab_recall']:.3f} "
          f"| {'yes' if r['same_ranking'] else 'no'} "
          f"| {r['review_seconds'] * 1000 / r['review_segments']:.1f} |")
if len({r["seed"] for r in rows}) > 1:
    tenor = sum(r["tenor_precision"] for r in rows) / len(rows)
    clean = sum(r["cleanlab_precision"] for r in rows) / len(rows)
    ahead = sum(r["tenor_precision"] > r["cleanlab_precision"] for r in rows)
    behind = sum(r["tenor_precision"] < r["cleanlab_precision"] for r in rows)
    print(f"\nmean P@k over {len(rows)} rows: tenor {tenor:.4f}, cleanlab {clean:.4f}; "
          f"tenor ahead in {ahead}, behind in {behind}, equal in {len(rows) - ahead - behind}")
if rows:
    print(f"\ncleanlab {rows[0]['cleanlab_version']}; precision = flipped among the first k "
          "suspects / their number (fewer than k when fewer are flagged), recall = / k")
PY
