#!/usr/bin/env bash
# Runs tenor's benchmarks side by side and prints markdown tables for docs/benchmarks.md.
#   bench/run.sh            # all
#   bench/run.sh validate   # one
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh >/dev/null
shared=$(cd .. && pwd)/shared/data
which=${1:-all}
echo "# $(date -u +%Y-%m-%d) on $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), commit $(git rev-parse --short HEAD 2>/dev/null || echo none)"
if [[ $which == all || $which == validate ]]; then
  echo; echo "## data validate"
  build/bench/bench_validate 10000 "$shared"
fi
if [[ $which == all || $which == features ]] && [[ -x bench/bench_features.sh ]]; then
  echo; echo "## features"
  bench/bench_features.sh
fi
