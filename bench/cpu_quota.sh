#!/usr/bin/env bash
# Training inside a cgroup with a CPU quota smaller than the cores the process may run on (a
# container's --cpus), side by side in one call: tenor's default (LibTorch's threads lowered
# to the quota, core/cpu.h) against one thread per core it may run on (OMP_NUM_THREADS set
# to that count: LibTorch's default, and what tenor did before). Training segments per second
# of the timed epochs (the first is a warm-up), each side CALLS times, alternating.
#   [TENOR=build/tenor] [CALLS=2] bench/cpu_quota.sh [STORE] [QUOTA_CORES]
# QUOTA_CORES defaults to 1. Needs root and a writable cgroup file system (v2's cpu.max or
# v1's cpu controller); says so and exits 0 where there is none. STORE defaults to a
# ravdess-anger store built on the fly from ../shared/data.
set -euo pipefail
cd "$(dirname "$0")/.."
tenor=$(realpath "${TENOR:-build/tenor}")
calls=${CALLS:-2}
store=${1:-}
quota=${2:-1}
cores=$(nproc)
work=$(mktemp -d)
group=""
cleanup() {
  if [[ -n $group ]]; then rmdir "$group" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
unset OMP_NUM_THREADS
period=100000
us=$(python3 -c "print(int($quota * $period))")
if [[ -f /sys/fs/cgroup/cgroup.controllers ]] && grep -qw cpu /sys/fs/cgroup/cgroup.controllers &&
  mkdir "/sys/fs/cgroup/tenor-bench-$$" 2>/dev/null; then
  group=/sys/fs/cgroup/tenor-bench-$$
  echo "$us $period" >"$group/cpu.max"
elif [[ -d /sys/fs/cgroup/cpu ]] && mkdir "/sys/fs/cgroup/cpu/tenor-bench-$$" 2>/dev/null; then
  group=/sys/fs/cgroup/cpu/tenor-bench-$$
  echo "$period" >"$group/cpu.cfs_period_us"
  echo "$us" >"$group/cpu.cfs_quota_us"
else
  echo "cpu_quota: cannot make a cgroup with a CPU quota here (needs root and a writable" \
    "/sys/fs/cgroup); nothing measured"
  exit 0
fi
if [[ -z $store ]]; then
  store=$work/ravdess.h5
  "$tenor" data build ../shared/data/ravdess-anger --out "$store" --no-progress 2>/dev/null
fi
common=(--set features="$store" --set epochs=3 --set patience=10 --set checkpoint_every_steps=100000
        --set augment.probability=0 --set selection=clean --set calibration=clean
        --set 'speech_encoder=""')
# OUT [OMP_NUM_THREADS]: trains inside the cgroup; prints the rate.
side() {
  local out=$1 omp=${2:-}
  OMP_NUM_THREADS=$omp sh -c "echo \$\$ > '$group/cgroup.procs' && exec \"\$0\" \"\$@\"" \
    "$tenor" train --config configs/ravdess-anger.yaml --set out="$out" "${common[@]}" \
    >/dev/null 2>&1
  python3 bench/train/run_rate.py "$out"
}
echo "| ravdess-anger, fusion, batch 32, a CPU quota of $quota core(s) on $cores | segments/s |"
echo "|---|---|"
for i in $(seq "$calls"); do
  printf '| tenor (threads lowered to the quota), call %d | %.1f |\n' "$i" "$(side "$work/q$i")"
  printf '| one thread per core (%d), call %d | %.1f |\n' "$cores" "$i" \
    "$(side "$work/c$i" "$cores")"
done
