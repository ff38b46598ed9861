#!/usr/bin/env python3
"""Training throughput of a tenor run, as the train, augment and distributed benches report it.

    bench/train/run_rate.py RUN [segments|data_wait]

segments: training segments per second over the epochs after the first (a warm-up), weighted
by each epoch's train_seconds (the dev evaluation is outside them); data_wait: the share of
those seconds spent waiting for data (phase_seconds.data), as a fraction.
"""
import json
import sys

run, what = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else "segments")
epochs = [json.loads(line) for line in open(f"{run}/metrics.jsonl")][1:]
seconds = sum(e["train_seconds"] for e in epochs)
if what == "segments":
    print(sum(e["segments_per_s"] * e["train_seconds"] for e in epochs) / seconds)
elif what == "data_wait":
    print(sum(e["phase_seconds"]["data"] for e in epochs) / seconds)
else:
    sys.exit(f"run_rate.py: '{what}' is not segments or data_wait")
