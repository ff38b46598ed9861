#!/usr/bin/env python3
"""What averaging runs would give, before an ensemble is built: the macro-F1 per task of each
run (its own decisions) and of the mean of the runs' calibrated probabilities, from
`tenor eval` reports of the same store and split (EVAL/report.json and
EVAL/predictions.jsonl). The mean decides by its highest class probability; a binary task's
by --threshold on the positive class (default 0.5), since the runs' own thresholds differ.
  python3 bench/text/average_runs.py EVAL EVAL [EVAL...] [--threshold T]
"""
import argparse
import json


def load(path):
    try:
        with open(f"{path}/report.json") as f:
            classes = {t["name"]: t["classes"] for t in json.load(f)["tasks"]}
        with open(f"{path}/predictions.jsonl") as f:
            rows = {(r["call_id"], r["segment"]): r["tasks"] for r in map(json.loads, f)}
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise SystemExit(f"{path}: not a `tenor eval --out` directory ({e}); "
                         "pass the --out of tenor eval of each run")
    return classes, rows


def macro_f1(truth, pred, classes):
    f1 = []
    for c in classes:
        tp = sum(t == c and p == c for t, p in zip(truth, pred))
        fp = sum(t != c and p == c for t, p in zip(truth, pred))
        fn = sum(t == c and p != c for t, p in zip(truth, pred))
        f1.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return sum(f1) / len(f1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("evals", nargs="+")
    ap.add_argument("--threshold", type=float, default=0.5)
    args = ap.parse_args()
    loaded = [load(e) for e in args.evals]
    classes, first = loaded[0]
    for (c, rows), e in zip(loaded[1:], args.evals[1:]):
        if c != classes or rows.keys() != first.keys():
            raise SystemExit(f"{e}: other tasks, classes or segments than {args.evals[0]}; "
                             "evaluate every run on the same store and split")
    print("| task | segments | " + " | ".join(args.evals) + " | mean of probabilities |")
    print("|---|---|" + "---|" * (len(loaded) + 1))
    for task, names in classes.items():
        # Labelled segments only; a task a segment's role does not carry is absent from it.
        keys = sorted(k for k in first if first[k].get(task, {}).get("label") is not None)
        truth = [first[k][task]["label"] for k in keys]
        scores = [macro_f1(truth, [rows[k][task]["decision"] for k in keys], names)
                  for _, rows in loaded]
        mean = []
        for k in keys:
            probs = [rows[k][task]["calibrated"] for _, rows in loaded]
            avg = [sum(p[i] for p in probs) / len(probs) for i in range(len(names))]
            best = int(avg[1] >= args.threshold) if len(names) == 2 else avg.index(max(avg))
            mean.append(names[best])
        scores.append(macro_f1(truth, mean, names))
        print(f"| {task} | {len(keys)} | " + " | ".join(f"{s:.3f}" for s in scores) + " |")


if __name__ == "__main__":
    main()
