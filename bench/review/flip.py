"""Copies a call dataset with a known fraction of its labels flipped, for bench/review_bench.sh.

    python3 flip.py SRC DST FRACTION [SEED]

DST receives dataset.yaml (copied), calls.jsonl with the flipped labels and a link to SRC's
audio directory (SRC is never written), and flipped.jsonl: one line per flipped label,
{"call_id", "segment", "task", "was", "now"}. Per task, round(FRACTION * labelled) segments
chosen at random get another class (binary: the other one; more classes: one of the others at
random). Only the segments' `labels` are flipped (a segment with `labels_by` only keeps them).
"""
import json
import os
import random
import shutil
import sys

import yaml

src, dst, fraction = sys.argv[1], sys.argv[2], float(sys.argv[3])
rng = random.Random(int(sys.argv[4]) if len(sys.argv) > 4 else 1)
os.makedirs(dst)
shutil.copyfile(os.path.join(src, "dataset.yaml"), os.path.join(dst, "dataset.yaml"))
if os.path.isdir(os.path.join(src, "audio")):
    os.symlink(os.path.abspath(os.path.join(src, "audio")), os.path.join(dst, "audio"))
schema = yaml.safe_load(open(os.path.join(src, "dataset.yaml")))["labels"]
calls = [json.loads(line) for line in open(os.path.join(src, "calls.jsonl")) if line.strip()]

flipped = []
for task, spec in schema.items():
    classes = spec["classes"]
    where = [(c, s) for c, call in enumerate(calls) for s, seg in enumerate(call["segments"])
             if task in seg.get("labels", {})]
    for c, s in rng.sample(where, round(fraction * len(where))):
        labels = calls[c]["segments"][s]["labels"]
        was = labels[task]
        was_index = classes.index(was) if isinstance(was, str) else was
        now = rng.choice([i for i in range(len(classes)) if i != was_index])
        labels[task] = classes[now] if isinstance(was, str) else now
        flipped.append({"call_id": calls[c]["call_id"], "segment": s, "task": task,
                        "was": was_index, "now": now})

with open(os.path.join(dst, "calls.jsonl"), "w") as out:
    for call in calls:
        out.write(json.dumps(call) + "\n")
with open(os.path.join(dst, "flipped.jsonl"), "w") as out:
    for f in flipped:
        out.write(json.dumps(f) + "\n")
