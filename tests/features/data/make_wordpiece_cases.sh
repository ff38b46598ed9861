#!/usr/bin/env bash
# Regenerates wordpiece_cases.NAME.jsonl: the hard cases of wordpiece_cases.in.jsonl with the
# ids Hugging Face `tokenizers` (the version reference.sh pins) gives with the tokenizer.json
# of text encoder NAME (minilm-l6: all-MiniLM-L6-v2, the default; mpnet-base:
# all-mpnet-base-v2). tests/features/wordpiece_test.cpp compares tenor's tokenizer with them.
#   tests/features/data/make_wordpiece_cases.sh [NAME]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$here/../../..
name=${1:-minilm-l6}
dir=$("$root/tools/text-encoders/fetch.sh" "$name")
out=$here/wordpiece_cases.$name.jsonl
"$root/tools/text-encoders/reference.sh" ids "$dir" < "$here/wordpiece_cases.in.jsonl" |
  python3 -c '
import json, sys
cases = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
for case, line in zip(cases, sys.stdin):
    case.update(json.loads(line))
    print(json.dumps(case, ensure_ascii=False))
' "$here/wordpiece_cases.in.jsonl" > "$out.tmp"
mv "$out.tmp" "$out"
