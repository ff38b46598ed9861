#!/usr/bin/env bash
# Two training processes of one run on this machine (data-parallel, Gloo on loopback), side by
# side in one call: each rank on every core (LibTorch's default in each process, what tenor did
# before docs/distributed.md "Threads"), tenor's default (the cores shared among the ranks),
# and one process with the same global batch for reference. Wall time of the whole training
# and training segments per second of rank 0's timed epochs (the first is a warm-up).
#   [TENOR=build/tenor] [EPOCHS=4] bench/distributed_threads.sh [STORE]
# STORE defaults to a ravdess-anger store built on the fly from ../shared/data.
set -euo pipefail
cd "$(dirname "$0")/.."
tenor=${TENOR:-build/tenor}
epochs=${EPOCHS:-4}
store=${1:-}
cores=$(nproc)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
unset OMP_NUM_THREADS
if [[ -z $store ]]; then
  store=$work/ravdess.h5
  $tenor data build ../shared/data/ravdess-anger --out "$store" --no-progress 2>/dev/null
fi
# configs/ravdess-anger.yaml as a store-only model (no audio read again), batch 16 per rank.
common=(--set features="$store" --set epochs="$epochs" --set patience=100
        --set checkpoint_every_steps=100000 --set normalize_loudness=false
        --set augment.probability=0 --set selection=clean --set calibration=clean
        --set 'speech_encoder=""')
# Runs the two ranks with extra options "$@"; prints the wall seconds.
two_ranks() {
  local out=$1
  shift
  local start end port pids=()
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  start=$(date +%s.%N)
  for r in 0 1; do
    RANK=$r WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=$port \
      $tenor train --config configs/ravdess-anger.yaml "${common[@]}" --set out="$out" \
      --set batch_size=16 "$@" >"$out.rank$r.log" 2>&1 &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || { cat "$out".rank*.log >&2; exit 1; }; done
  end=$(date +%s.%N)
  python3 -c "print($end - $start)"
}

one_process() {
  local start end
  start=$(date +%s.%N)
  $tenor train --config configs/ravdess-anger.yaml "${common[@]}" --set out="$work/one" \
    --set batch_size=32 >"$work/one.log" 2>&1
  end=$(date +%s.%N)
  python3 -c "print($end - $start)"
}

# Training segments per second over the timed epochs of a run (rank 0's metrics.jsonl).
rate() { python3 bench/train/run_rate.py "$1"; }

every_core=$(two_ranks "$work/every" --set threads="$cores")
shared=$(two_ranks "$work/shared")
one=$(one_process)
grep -h "threads:" "$work/shared.rank0.log" | sed 's/^.*info: /rank 0 logged: /' >&2
echo "| $epochs epochs, ravdess-anger store, global batch 32, $cores cores | wall s | training segments/s |"
echo "|---|---|---|"
printf '| 2 ranks, each on all %d cores (threads: %d) | %.1f | %.1f |\n' "$cores" "$cores" "$every_core" "$(rate "$work/every")"
printf '| 2 ranks, threads: 0 (shared: %s each) | %.1f | %.1f |\n' \
  "$(sed -n 's/.*threads: \([0-9]*\) per process.*/\1/p' "$work/shared.rank0.log" | head -1)" "$shared" "$(rate "$work/shared")"
printf '| 1 process, batch 32 (threads: 0) | %.1f | %.1f |\n' "$one" "$(rate "$work/one")"
printf '| ratio every-core / shared (wall) | %.2fx | |\n' "$(python3 -c "print($every_core/$shared)")"
