"""Batches of real transcripts for bench/text_encoder_bench.sh: every labelled segment of a
dataset (calls.jsonl) as `tenor train` feeds it to model.text_encoder (the segment, then the
first CONTEXT pieces of the previous segment of the call, longest-first truncation to LENGTH
ids in all), tokenised by Hugging Face `tokenizers` with the encoder's tokenizer.json,
shuffled with a fixed seed and cut into batches of BATCH. Each output line is one batch:
{"ids": [[...], ...], "type_ids": [[...], ...]}, rows of their own lengths (each side pads
them to the longest row of its batch, as a data collator does).
  python transcript_batches.py ENCODER_DIR CALLS.jsonl BATCH LENGTH CONTEXT BATCHES"""
import json
import random
import sys

from tokenizers import Tokenizer


def feed_rows(tok, calls, length, context):
    """Every labelled segment with text as tenor train feeds model.text_encoder:
    (ids, type_ids, words of the segment); type ids are the sentence (0, then 1 on the
    context), as tenor's."""
    # The tokenizer's own template: [CLS] a [SEP] b [SEP] (BERT) or <s> a </s></s> b </s>
    # (RobertaProcessing, MPNet), read off an encoded pair.
    one = len(tok.encode("a", add_special_tokens=False).ids)
    pair = tok.encode("a", "b", add_special_tokens=True).ids
    cls, sep = pair[0], pair[1 + one]
    opening = [sep] if pair[2 + one] == sep else []  # the pair's own </s>
    rows = []
    with open(calls, encoding="utf-8") as f:
        for line in f:
            previous = None
            for seg in json.loads(line).get("segments", []):
                text = seg.get("text", "")
                if seg.get("labels") and text:
                    a = tok.encode(text, add_special_tokens=False).ids
                    b = (tok.encode(previous, add_special_tokens=False).ids[:context]
                         if previous and context > 0 else None)
                    room = length - (3 + len(opening) if b else 2)
                    while len(a) + len(b or []) > room:  # longest first
                        (a if len(a) >= len(b or []) else b).pop()
                    ids = [cls] + a + [sep] + (opening + b + [sep] if b else [])
                    types = [0] * (len(a) + 2) + [1] * (len(ids) - len(a) - 2)
                    rows.append((ids, types, len(text.split())))
                previous = text
    return rows


def tokenizer(encoder_dir):
    tok = Tokenizer.from_file(encoder_dir + "/tokenizer.json")
    tok.no_padding()
    tok.no_truncation()
    return tok


def main():
    encoder_dir, calls = sys.argv[1], sys.argv[2]
    batch, length, context, batches = map(int, sys.argv[3:7])
    rows = feed_rows(tokenizer(encoder_dir), calls, length, context)
    random.Random(1).shuffle(rows)
    for i in range(batches):
        chunk = [rows[(i * batch + k) % len(rows)] for k in range(batch)]
        print(json.dumps({"ids": [r[0] for r in chunk], "type_ids": [r[1] for r in chunk]}))


if __name__ == "__main__":
    main()
