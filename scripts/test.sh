#!/usr/bin/env bash
# Installs what is missing, builds, and runs the default test suite
# (every test except the `bench`, `gpu` and `heavy` labels; `realdata` tests
# skip themselves when ../shared/data is absent).
# Without arguments it also runs the lint gate first (`lint` target: clang-tidy's function-size
# and cognitive-complexity checks on train/, eval/, export/, cli/); the tests run either way,
# and the script fails when either fails, so a violation fails CI.
# Extra arguments go to ctest, e.g. `scripts/test.sh -L realdata`, and skip the lint.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
# The build folder of scripts/build.sh: build/ (the torch wheel's LibTorch, the default) or
# build-system/ (TENOR_TORCH=system: Debian's libtorch-dev 1.13).
build=build
[[ ${TENOR_TORCH:-wheel} == system ]] && build=build-system
if (($#)); then
  cd "$build"
  exec ctest --output-on-failure --timeout 900 "$@"
fi
lint=0
cmake --build "$build" --target lint || lint=$?
cd "$build"
ctest --output-on-failure --timeout 900 -LE 'bench|gpu|heavy' -j "$(nproc)"
if ((lint)); then
  echo "test.sh: the tests passed but the lint gate failed (see 'lint:' above)" >&2
  exit "$lint"
fi
