#!/usr/bin/env bash
# The Python reference for tests and benchmarks only (tenor never runs Python): Hugging Face
# `tokenizers`, pinned, in a virtual environment kept in the cache outside the clone.
#   tools/text-encoders/reference.sh ids ENCODER_DIR < texts.jsonl > ids.jsonl
# Each input line is {"text": "..."}, optionally with "pair" and "max_length" (longest-first
# truncation); each output line
# {"ids": [...], "type_ids": [...]} with the special tokens, without truncation or padding.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
version=0.23.3
venv=${XDG_CACHE_HOME:-$HOME/.cache}/tenor/pyref-tokenizers-$version
if [[ ! -x $venv/bin/python ]]; then
  echo "reference: installing tokenizers==$version into $venv" >&2
  rm -rf "$venv.tmp"
  python3 -m venv "$venv.tmp" >&2
  "$venv.tmp/bin/pip" install --quiet "tokenizers==$version" >&2
  rm -rf "$venv"
  mv "$venv.tmp" "$venv"
  # the venv's scripts name their own path: recreate them under the final name
  python3 -m venv --upgrade "$venv" >&2
fi
exec "$venv/bin/python" "$here/reference.py" "$@"
