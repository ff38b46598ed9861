#!/usr/bin/env bash
# The Python references for tests and benchmarks only (tenor never runs Python): Hugging Face
# `tokenizers` and `transformers`, pinned, in a virtual environment kept in the cache outside
# the clone. `transformers` needs torch: the one installed for tenor's build (issue 18's
# wheel, found in the cache or named by TENOR_REFERENCE_TORCH, a site-packages directory) is
# reused rather than downloaded again; without it `encode` exits 3 and tests skip.
#   tools/text-encoders/reference.sh ids ENCODER_DIR < texts.jsonl > ids.jsonl
#     each input line {"text": "..."}, optionally with "pair" and "max_length" (longest-first
#     truncation); each output line {"ids": [...], "type_ids": [...]} with the special tokens
#   tools/text-encoders/reference.sh encode ENCODER_DIR BATCH.json OUT.json
#   tools/text-encoders/reference.sh whisper ENCODER_DIR AUDIO.json OUT.json   (reference.py)
#   tools/text-encoders/reference.sh python SCRIPT.py ARGS...   (benchmarks: any script, with
#     transformers and the torch below)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tokenizers=0.23.3 transformers=5.23.0
source "$here/../../scripts/cached-venv.sh"
venv=$(cached_venv "pyref-tokenizers-$tokenizers-transformers-$transformers" \
  "tokenizers==$tokenizers" "transformers==$transformers")
if [[ ${1:-} == encode || ${1:-} == whisper || ${1:-} == python ]]; then
  # The torch of tenor's build: .venv's (scripts/install-deps.sh), wherever its cache is.
  site=$(torch_site) || { echo "reference: cannot run transformers" >&2; exit 3; }
  export PYTHONPATH=$site${PYTHONPATH:+:$PYTHONPATH}
fi
if [[ $1 == python ]]; then shift; exec "$venv/bin/python" -W ignore "$@"; fi
exec "$venv/bin/python" -W ignore "$here/reference.py" "$@"
