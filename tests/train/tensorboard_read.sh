#!/usr/bin/env bash
# TensorBoard's own event reader, for tests only (tenor never runs Python): `tensorboard`,
# pinned, in a virtual environment kept in the cache outside the clone (the pattern of
# tools/text-encoders/reference.sh).
#   tests/train/tensorboard_read.sh scalars LOGDIR > out.json   (tensorboard_read.py says what)
#   tests/train/tensorboard_read.sh vectors > vectors.json     (the unit test's constants)
# Exits 3 when the environment cannot be made (no network to PyPI): tests skip then.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${XDG_CACHE_HOME:-$HOME/.cache}/tenor
tensorboard=2.21.0
venv=$cache/pyref-tensorboard-$tensorboard
mkdir -p "$cache"
exec 9>"$venv.lock"  # tests call this concurrently: one installs, the others wait
flock 9
if [[ ! -x $venv/bin/python ]]; then
  echo "tensorboard_read: installing tensorboard==$tensorboard into $venv" >&2
  rm -rf "$venv"
  stage=$(mktemp -d "$cache/.pyref-XXXXXX")
  trap 'rm -rf "$stage"' EXIT
  if ! { python3 -m venv "$stage" >&2 &&
         "$stage/bin/pip" install --quiet --timeout 30 "tensorboard==$tensorboard" >&2; }; then
    echo "tensorboard_read: cannot install tensorboard==$tensorboard (no network to PyPI?)" >&2
    exit 3
  fi
  mv "$stage" "$venv"
  python3 -m venv --upgrade "$venv" >&2  # its scripts name their own path
fi
flock -u 9
exec "$venv/bin/python" -W ignore "$here/tensorboard_read.py" "$@"
