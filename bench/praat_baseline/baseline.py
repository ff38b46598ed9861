"""The seven-feature Praat pitch baseline of issue 20, side by side with bench/robustness.sh.

Praat's F0 statistics of each clip (pitch_features.praat: mean, standard deviation, minimum,
maximum, median, range, voiced share), a logistic regression (scikit-learn, standardised
features, classes weighted as balanced, decision at probability 0.5) fitted on the clean
training split, then scored on the clean and degraded copies of a split that
bench/robustness.sh made. Prints one table row per feature set in robustness.sh's format:
escalation macro-F1 [95 % bootstrap interval over calls, 1000 resamples].

    python baseline.py DATASET WORK SPLIT NAME PRAAT_SCRIPT CONDITION...
"""
import json
import math
import os
import subprocess
import sys
import tempfile

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def clips(dataset, split):
    """(audio path, escalation label) of each call of `split` with one labelled segment."""
    out = []
    with open(os.path.join(dataset, "calls.jsonl")) as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            call = json.loads(line)
            if call.get("split") != split:
                continue
            labels = [s.get("labels", {}).get("escalation") for s in call["segments"]]
            labels = [v for v in labels if v is not None]
            if len(call["segments"]) != 1 or len(labels) != 1:
                sys.exit(f"{dataset}/calls.jsonl line {number}: call {call['call_id']} has "
                         f"{len(call['segments'])} segments; the baseline reads one-segment "
                         "calls (a clip per call), as RAVDESS has")
            # absolute: praat resolves a relative path against its script's folder
            out.append((os.path.abspath(os.path.join(dataset, call["audio"])), int(labels[0])))
    if not out:
        sys.exit(f"{dataset}/calls.jsonl has no labelled call in split {split}")
    return out


def praat_features(script, paths):
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write("\n".join(paths) + "\n")
        listfile = f.name
    try:
        run = subprocess.run(["praat", "--run", script, listfile], capture_output=True, text=True)
    finally:
        os.unlink(listfile)
    if run.returncode != 0:
        sys.exit(f"praat failed on {len(paths)} files from {paths[0]}: {run.stderr.strip()}")
    text = run.stdout
    rows = {}
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) == 8:
            rows[parts[0]] = [float("nan") if p in ("nan", "--undefined--") else float(p)
                              for p in parts[1:]]
    missing = [p for p in paths if p not in rows]
    if missing:
        sys.exit(f"praat gave no features for {missing[0]} ({len(missing)} files)")
    return np.array([rows[p] for p in paths])


def macro_f1(y, p):
    # Both classes always count (0 when one is never predicted), as tenor eval scores them.
    return float(f1_score(y, p, labels=[0, 1], average="macro", zero_division=0))


def interval(y, p, resamples=1000, seed=1):
    rng = np.random.default_rng(seed)
    values = [macro_f1(y[i], p[i]) for i in
              (rng.integers(0, len(y), len(y)) for _ in range(resamples))]
    return np.percentile(values, 2.5), np.percentile(values, 97.5)


def main():
    dataset, work, split, name, script, *conditions = sys.argv[1:]
    train = clips(dataset, "train")
    x_train = praat_features(script, [p for p, _ in train])
    y_train = np.array([y for _, y in train])
    fill = np.nanmean(x_train, axis=0)  # a clip without voiced frames: the training means
    model = make_pipeline(StandardScaler(),
                          LogisticRegression(class_weight="balanced", max_iter=1000))
    model.fit(np.where(np.isnan(x_train), fill, x_train), y_train)
    cells, tsv = [], []
    for condition in conditions:
        rows = clips(os.path.join(work, split, condition), split)
        x = praat_features(script, [p for p, _ in rows])
        y = np.array([v for _, v in rows])
        p = model.predict(np.where(np.isnan(x), fill, x))
        value = macro_f1(y, p)
        low, high = interval(y, p)
        cells.append(f"{value:.3f} [{low:.3f}, {high:.3f}]")
        tsv.append(f"{name}\t{condition}\t{value:.4f}\t{low:.4f}\t{high:.4f}")
    print(f"| {name} | " + " | ".join(cells) + " |")
    with open(os.path.join(work, f"results-{split}.tsv"), "a") as f:
        f.write("\n".join(tsv) + "\n")


if __name__ == "__main__":
    main()
