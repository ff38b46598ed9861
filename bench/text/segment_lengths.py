"""How many WordPiece ids model.text_encoder reads per segment of a dataset, as tenor train
feeds it (transcript_batches.feed_rows: the segment, then the first CONTEXT pieces of the
previous segment, at most LENGTH ids): over all labelled segments, and over those of WORDS
words (a 10-second turn at 2.5-3 words/s: 25-30 words; the shared sets' timings are not real
durations). Prints one JSON line per set of segments: count, p50, p95, max ids.
  python segment_lengths.py ENCODER_DIR LENGTH CONTEXT WORDS_MIN WORDS_MAX CALLS.jsonl..."""
import json
import os
import sys

import numpy as np

from transcript_batches import feed_rows, tokenizer


def summary(name, lengths):
    q = np.percentile(lengths, [50, 95]) if lengths else [0, 0]
    return {"segments": name, "count": len(lengths), "p50_ids": float(q[0]),
            "p95_ids": float(q[1]), "max_ids": max(lengths, default=0)}


def main():
    encoder_dir = sys.argv[1]
    length, context, words_min, words_max = map(int, sys.argv[2:6])
    tok = tokenizer(encoder_dir)
    for calls in sys.argv[6:]:
        rows = feed_rows(tok, calls, length, context)
        name = os.path.basename(os.path.dirname(os.path.abspath(calls)))
        print(json.dumps(summary(f"{name}, all labelled", [len(r[0]) for r in rows])))
        turn = [len(r[0]) for r in rows if words_min <= r[2] <= words_max]
        print(json.dumps(summary(f"{name}, {words_min}-{words_max} words", turn)))


if __name__ == "__main__":
    main()
