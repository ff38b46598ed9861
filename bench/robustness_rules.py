#!/usr/bin/env python3
"""Where the decision threshold of RAVDESS runs should be fitted, from what bench/robustness.sh
scored: per run, the temperature-scaled dev and test probabilities of every condition
(WORK/eval-SPLIT-RUN-CONDITION/predictions.jsonl, from `SPLIT=dev SEED=2` and `SPLIT=test`
calls on the same runs). Each rule fits a threshold on dev rows and is scored as macro-F1:
  clean   tenor's rule on the clean dev split (the highest positive-class F1, ties to the
          highest threshold, halfway to the next lower score; eval/calibration.h)
  pooled  the same rule on the clean dev split pooled with its degraded copies (every
          condition but noise-0dB), as `calibration: degraded` does with training's copies
  half    0.5, nothing fitted
  pooled-macro, pooled-bagged, pooled-macro-bagged, clean-bagged
          variants: the threshold of the highest macro-F1 (both classes) instead of the
          positive class's F1, and the median threshold over 200 call-bootstrap resamples
          (a clip's copies drawn together) instead of one fit
Two scores per rule: `test` (fit on dev, score the test copies; only when every run was
scored on test too) and `dev-loao` (fit on all dev actors but one, score that one, averaged
over them: a choice that needs no test data).
A second table gives, per split and condition, the mean AUROC and the ceiling: macro-F1 with
the threshold fitted on the scored copy itself (no rule can do better with one threshold per
condition; a gap between it and the rules is the threshold's, not the ranking's).
The actor is the last field of a RAVDESS call id. The temperature is the run's own (the
threshold is a cut on the calibrated probability, so it does not change the decisions).
  python3 bench/robustness_rules.py WORK RUN_NAME...
"""
import json
import os
import random
import statistics
import sys

CONDITIONS = ["clean", "telephone-mulaw", "agc", "gain-20dB", "noise-10dB", "noise-0dB",
              "reverb-0.5s"]
EXCLUDED = "noise-0dB"  # the goal excludes it from "every degradation"


def load(work, split, run, condition):
    rows = []
    with open(f"{work}/eval-{split}-{run}-{condition}/predictions.jsonl") as f:
        for line in f:
            r = json.loads(line)
            e = r["tasks"]["escalation"]
            rows.append((e["calibrated"][1], int(e["label"] != "calm"),
                         r["call_id"].split("-")[-1], r["call_id"]))
    return rows


def macro_f1(rows, t):
    tp = sum(1 for p, y, *_ in rows if y and p >= t)
    fp = sum(1 for p, y, *_ in rows if not y and p >= t)
    fn = sum(1 for p, y, *_ in rows if y and p < t)
    tn = len(rows) - tp - fp - fn
    return (f1(tp, fp + fn) + f1(tn, fp + fn)) / 2


def best_threshold(rows, objective):
    """The threshold of the highest objective(tp, fp, fn, tn), candidates the distinct scores
    from the top, ties to the highest, returned halfway to the next lower score."""
    scored = sorted(((p, y) for p, y, *_ in rows), reverse=True)
    positives = sum(y for _, y in scored)
    negatives = len(scored) - positives
    best, best_t, tp, fp = -1.0, 0.5, 0, 0
    for i, (p, y) in enumerate(scored):
        tp += y
        fp += 1 - y
        if i + 1 < len(scored) and scored[i + 1][0] == p:
            continue
        f = objective(tp, fp, positives - tp, negatives - fp)
        below = scored[i + 1][0] if i + 1 < len(scored) else 0.0
        if f > best:
            best, best_t = f, 0.5 * (p + below)
    return best_t


def f1(a, b):
    return 2 * a / (2 * a + b) if a + b else 1.0


def tenor_threshold(rows):
    """eval::fit_threshold: the highest positive-class F1."""
    return best_threshold(rows, lambda tp, fp, fn, tn: f1(tp, fp + fn))


def macro_threshold(rows):
    """The highest macro-F1 (both classes)."""
    return best_threshold(rows, lambda tp, fp, fn, tn: (f1(tp, fp + fn) + f1(tn, fp + fn)) / 2)


def bagged(fit, rows, draws=200):
    """The median of `fit` over call-bootstrap resamples of rows (a clip's copies together)."""
    rng = random.Random(7)
    by_call = {}
    for r in rows:
        by_call.setdefault(r[3], []).append(r)
    calls = sorted(by_call)
    ts = []
    for _ in range(draws):
        sample = [r for _ in calls for r in by_call[rng.choice(calls)]]
        if any(y for _, y, *_ in sample):
            ts.append(fit(sample))
    return statistics.median(ts)


def pooled(dev):
    return [r for c in CONDITIONS if c != EXCLUDED for r in dev[c]]


RULES = {
    "clean": lambda dev: tenor_threshold(dev["clean"]),
    "pooled": lambda dev: tenor_threshold(
        [r for c in CONDITIONS if c != EXCLUDED for r in dev[c]]),
    "half": lambda dev: 0.5,
    "pooled-macro": lambda dev: macro_threshold(pooled(dev)),
    "pooled-bagged": lambda dev: bagged(tenor_threshold, pooled(dev)),
    "pooled-macro-bagged": lambda dev: bagged(macro_threshold, pooled(dev)),
    "clean-bagged": lambda dev: bagged(tenor_threshold, dev["clean"]),
}


def has_test(work, runs):
    """Whether every run was also scored on test (a choice reads dev alone)."""
    missing = [f"{work}/eval-dev-{run}-{c}" for run in runs for c in CONDITIONS
               if not os.path.exists(f"{work}/eval-dev-{run}-{c}/predictions.jsonl")]
    if missing:
        sys.exit(f"bench/robustness_rules.py: {missing[0]} has no predictions.jsonl "
                 f"({len(missing)} such); score the runs first with "
                 f"`SPLIT=dev SEED=2 bench/robustness.sh {work} RUN...`")
    test = all(os.path.exists(f"{work}/eval-test-{run}-{c}/predictions.jsonl")
               for run in runs for c in CONDITIONS)
    if not test:
        print("(no `SPLIT=test` scores of every run in WORK: dev only)\n")
    return test


def main(work, runs, test):
    print("| rule | scored on | " + " | ".join(CONDITIONS) + " | mean worst (no 0 dB) |")
    print("|---|---|" + "---|" * (len(CONDITIONS) + 1))
    # Each run's rows read once; each rule fits once on all of dev and once per left-out actor.
    devs = [{c: load(work, "dev", run, c) for c in CONDITIONS} for run in runs]
    tests = [{c: load(work, "test", run, c) for c in CONDITIONS} if test else None
             for run in runs]
    for name, rule in RULES.items():
        scores = {"dev-loao": {c: [] for c in CONDITIONS}, "test": {c: [] for c in CONDITIONS}}
        for dev, scored in zip(devs, tests):
            if scored:
                t = rule(dev)
                for c in CONDITIONS:
                    scores["test"][c].append(macro_f1(scored[c], t))
            actors = sorted({r[2] for r in dev["clean"]})
            fitted = {a: rule({k: [r for r in v if r[2] != a] for k, v in dev.items()})
                      for a in actors}
            for c in CONDITIONS:
                scores["dev-loao"][c].append(statistics.mean(
                    macro_f1([r for r in dev[c] if r[2] == a], fitted[a]) for a in actors))
        for split in ("dev-loao", "test") if test else ("dev-loao",):
            s = scores[split]
            worst = statistics.mean(
                min(s[c][i] for c in CONDITIONS if c != EXCLUDED) for i in range(len(runs)))
            cells = " | ".join(f"{statistics.mean(s[c]):.3f}" for c in CONDITIONS)
            print(f"| {name} | {split} | {cells} | {worst:.3f} |")


def auroc(rows):
    pos = [p for p, y, *_ in rows if y]
    neg = [p for p, y, *_ in rows if not y]
    return sum((a > b) + 0.5 * (a == b) for a in pos for b in neg) / len(pos) / len(neg)


def ceiling(work, runs, test):
    print()
    print("| split | measure | " + " | ".join(CONDITIONS) + " |")
    print("|---|---|" + "---|" * len(CONDITIONS))
    for split in ("dev", "test") if test else ("dev",):
        rows = {c: [load(work, split, run, c) for run in runs] for c in CONDITIONS}
        for name, f in (("AUROC", auroc),
                        ("ceiling", lambda r: max(macro_f1(r, x[0]) for x in r))):
            cells = " | ".join(f"{statistics.mean(f(r) for r in rows[c]):.3f}"
                               for c in CONDITIONS)
            print(f"| {split} | {name} | {cells} |")


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    test = has_test(sys.argv[1], sys.argv[2:])
    main(sys.argv[1], sys.argv[2:], test)
    ceiling(sys.argv[1], sys.argv[2:], test)
