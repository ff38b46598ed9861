#!/usr/bin/env bash
# Installs what is missing, builds, and runs the default test suite
# (every test except the `bench`, `gpu` and `heavy` labels; `realdata` tests
# skip themselves when ../shared/data is absent).
# Extra arguments go to ctest, e.g. `scripts/test.sh -L realdata`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
cd build
if (($#)); then
  ctest --output-on-failure --timeout 900 "$@"
else
  ctest --output-on-failure --timeout 900 -LE 'bench|gpu|heavy' -j "$(nproc)"
fi
