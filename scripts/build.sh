#!/usr/bin/env bash
# Configures (once) and builds tenor into build/. Extra arguments go to cmake at configure time.
set -euo pipefail
cd "$(dirname "$0")/.."
gen=(); command -v ninja >/dev/null && gen=(-G Ninja)
if [[ ! -f build/CMakeCache.txt ]]; then
  cmake -S . -B build "${gen[@]}" -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
fi
cmake --build build --parallel "$(nproc)"
