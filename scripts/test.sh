#!/usr/bin/env bash
# Installs what is missing, builds, and runs the default test suite
# (every test except the `bench`, `gpu` and `heavy` labels; `realdata` tests
# skip themselves when ../shared/data is absent).
# Extra arguments go to ctest, e.g. `scripts/test.sh -L realdata`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
# The build folder of scripts/build.sh: build/ (the torch wheel's LibTorch, the default) or
# build-system/ (TENOR_TORCH=system: Debian's libtorch-dev 1.13).
[[ ${TENOR_TORCH:-wheel} == system ]] && cd build-system || cd build
if (($#)); then
  ctest --output-on-failure --timeout 900 "$@"
else
  ctest --output-on-failure --timeout 900 -LE 'bench|gpu|heavy' -j "$(nproc)"
fi
