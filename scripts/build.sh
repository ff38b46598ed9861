#!/usr/bin/env bash
# Configures (once) and builds tenor. Extra arguments go to cmake at configure time.
# LibTorch: by default the one inside the pinned torch wheel that scripts/install-deps.sh
# puts in .venv (2.x, CUDA compiled in), into build/. TENOR_TORCH=system builds against
# Debian's libtorch-dev 1.13 (CPU only) into build-system/ instead.
set -euo pipefail
cd "$(dirname "$0")/.."
torch=${TENOR_TORCH:-wheel}
case $torch in
  wheel) dir=build ;;
  system) dir=build-system ;;
  *) echo "build: TENOR_TORCH=$torch: use wheel (the default) or system" >&2; exit 2 ;;
esac
gen=(); command -v ninja >/dev/null && gen=(-G Ninja)
if [[ ! -f $dir/CMakeCache.txt ]]; then
  cmake -S . -B "$dir" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DTENOR_TORCH="$torch" "$@" >/dev/null
fi
cmake --build "$dir" --parallel "$(nproc)"
