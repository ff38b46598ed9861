#!/usr/bin/env bash
# Regenerates wordpiece_cases.jsonl: the hard cases of wordpiece_cases.in.jsonl with the ids
# Hugging Face `tokenizers` (the version reference.sh pins) gives with all-MiniLM-L6-v2's
# tokenizer.json. tests/features/wordpiece_test.cpp compares tenor's tokenizer with them.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$here/../../..
dir=$("$root/tools/text-encoders/fetch.sh" minilm-l6)
"$root/tools/text-encoders/reference.sh" ids "$dir" < "$here/wordpiece_cases.in.jsonl" |
  python3 -c '
import json, sys
cases = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
for case, line in zip(cases, sys.stdin):
    case.update(json.loads(line))
    print(json.dumps(case, ensure_ascii=False))
' "$here/wordpiece_cases.in.jsonl" > "$here/wordpiece_cases.jsonl.tmp"
mv "$here/wordpiece_cases.jsonl.tmp" "$here/wordpiece_cases.jsonl"
