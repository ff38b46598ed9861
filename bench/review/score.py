"""Precision and recall at k = the number flipped, of `tenor data review` and of cleanlab on the
same out-of-fold probabilities (REVIEW/oof.jsonl), per task. For bench/review_bench.sh.

    python score.py DATASET REVIEW NAME FRACTION [SEED]

Prints one JSON line per task. tenor's ranking: review.json's suspects of the task, in order.
cleanlab's: cleanlab.filter.find_label_issues(labels, pred_probs,
return_indices_ranked_by="self_confidence") (its defaults: prune by noise rate). For each, the
first k of the list (k = labels flipped in the task): precision = flipped among them / their
number, recall = flipped among them / k.
"""
import json
import sys
import time

import numpy as np
import cleanlab
from cleanlab.filter import find_label_issues

dataset, review_dir, name, fraction = sys.argv[1:5]
seed = int(sys.argv[5]) if len(sys.argv) > 5 else 1
flipped = [json.loads(l) for l in open(f"{dataset}/flipped.jsonl")]
review = json.load(open(f"{review_dir}/review.json"))
oof = [json.loads(l) for l in open(f"{review_dir}/oof.jsonl")]


def at_k(ranked, truth, k):
    top = ranked[:k]
    hits = sum(1 for key in top if key in truth)
    return (hits / len(top) if top else 0.0), hits / k


for task in review["tasks"]:
    truth = {(f["call_id"], f["segment"]) for f in flipped if f["task"] == task}
    k = len(truth)
    if k == 0:
        continue
    rows = [o for o in oof if o["task"] == task]
    labels = np.array([o["label"] for o in rows])
    probs = np.array([o["probs"] for o in rows])
    start = time.perf_counter()
    issues = find_label_issues(labels, probs, return_indices_ranked_by="self_confidence")
    cl_seconds = time.perf_counter() - start
    cl_ranked = [(rows[i]["call_id"], rows[i]["segment"]) for i in issues]
    tenor_ranked = [(s["call_id"], s["segment"]) for s in review["suspects"] if s["task"] == task]
    tp, tr = at_k(tenor_ranked, truth, k)
    cp, cr = at_k(cl_ranked, truth, k)
    print(json.dumps({
        "set": name, "task": task, "fraction": float(fraction), "seed": seed,
        "segments": len(rows),
        "flipped": k, "tenor_flagged": len(tenor_ranked), "tenor_precision": tp,
        "tenor_recall": tr, "cleanlab_flagged": len(cl_ranked), "cleanlab_precision": cp,
        "cleanlab_recall": cr, "same_ranking": tenor_ranked == cl_ranked,
        "review_seconds": review["seconds"], "review_segments": review["segments"],
        "cleanlab_seconds": cl_seconds, "cleanlab_version": cleanlab.__version__}))
