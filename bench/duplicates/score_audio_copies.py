"""Scores `tenor data validate SET --json F` on the set make_audio_copies.py writes.

Usage: score_audio_copies.py SET/calls.jsonl F

Prints the copies found out of those added (a pair of "copy-X" with X), the worst share of
differing fingerprint bits among them, the copies missed, and the false pairs (any other pair).
"""
import json, sys

calls = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
copies = {c["call_id"] for c in calls if c["call_id"].startswith("copy-")}
report = json.load(open(sys.argv[2]))
found, worst, false_pairs = set(), 0.0, []
for p in report["duplicates"]:
    a, b = sorted(p["call_ids"])
    if b == "copy-" + a:
        found.add(b)
        worst = max(worst, p["audio_bit_errors"] or 0.0)
    else:
        false_pairs.append((a, b, p["audio_bit_errors"], p["text_jaccard"]))
print("found %d of %d copies, worst %.1f %% differing bits; validate's own time %.2f s"
      % (len(found), len(copies), 100 * worst, report["seconds"]))
print("missed:", sorted(copies - found))
print("false pairs: %d %s" % (len(false_pairs), false_pairs[:10]))
