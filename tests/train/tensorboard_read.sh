#!/usr/bin/env bash
# TensorBoard's own event reader, for tests only (tenor never runs Python): `tensorboard`,
# pinned, in a virtual environment kept in the cache outside the clone (the pattern of
# tools/text-encoders/reference.sh).
#   tests/train/tensorboard_read.sh scalars LOGDIR > out.json   (tensorboard_read.py says what)
#   tests/train/tensorboard_read.sh vectors > vectors.json     (the unit test's constants)
# Exits 3 when the environment cannot be made (no network to PyPI): tests skip then.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tensorboard=2.21.0
source "$here/../../scripts/cached-venv.sh"
venv=$(cached_venv "pyref-tensorboard-$tensorboard" "tensorboard==$tensorboard")
exec "$venv/bin/python" -W ignore "$here/tensorboard_read.py" "$@"
