#!/usr/bin/env python3
"""Accuracy of `tenor features --csv` against Praat frames (bench/features/pitch_intensity.praat).

Usage: compare.py TENOR_DIR PRAAT_DIR
Each TENOR_DIR/<name>.csv was made with --start (t1 - 5 ms) mod 10 ms, so tenor's frame times
equal Praat's; frames are matched by time (within 1 ms). Same figures as the realdata test
(tests/features/praat_realdata_test.cpp): GPE (|f0 error| > 20%) on frames both call voiced,
voicing agreement, Pearson correlation of intensity (Praat's -300 dB zero-energy frames left out).
"""
import csv
import math
import os
import sys


def read(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def main(tenor_dir, praat_dir):
    compared = agree = both = gross = 0
    xs, ys = [], []
    files = sorted(n for n in os.listdir(praat_dir) if n.endswith(".csv"))
    for name in files:
        praat = read(os.path.join(praat_dir, name))
        tenor = {round(float(r["time_s"]) * 1000): r for r in read(os.path.join(tenor_dir, name))}
        for p in praat:
            t = tenor.get(round(float(p["time"]) * 1000))
            if t is None:
                continue
            vt, vp = t["voiced"] == "1", float(p["f0"]) > 0
            compared += 1
            agree += vt == vp
            if vt and vp:
                both += 1
                gross += abs(float(t["f0_hz"]) - float(p["f0"])) > 0.2 * float(p["f0"])
            db = float(p["intensity"])
            if db > -250:
                xs.append(float(t["intensity_db"]))
                ys.append(db)
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    r = sxy / math.sqrt(sxx * syy)
    print(f"accuracy vs Praat: {len(files)} files, {compared} frames: "
          f"GPE {100 * gross / max(both, 1):.2f}% ({gross}/{both} both voiced), "
          f"voicing agreement {100 * agree / max(compared, 1):.2f}%, intensity r = {r:.4f} ({len(xs)} frames)")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
