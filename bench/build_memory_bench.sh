#!/usr/bin/env bash
# Peak memory of `tenor data build` is bounded by the batch, not by the dataset:
# builds stores for a synthetic dataset and one 10x larger, side by side, and prints
# peak RSS and times-real-time for each.
#   bench/build_memory_bench.sh [CALLS]   (default 24; the large set has 10x CALLS)
set -euo pipefail
cd "$(dirname "$0")/.."
tenor=build/tenor
calls=${1:-24}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "| dataset | calls | audio (min) | store (MB) | build (s) | x real time | peak RSS (MB) |"
echo "|---|---|---|---|---|---|---|"
for n in "$calls" "$((calls * 10))"; do
  $tenor data synth --out "$work/d$n" --calls "$n" --seed 3 2>/dev/null
  /usr/bin/time -f '%e %M' -o "$work/time$n" $tenor data build "$work/d$n" --out "$work/f$n.h5" --no-progress \
    2> "$work/log$n"
  read -r seconds rss_kb < "$work/time$n"
  audio_s=$(grep -o '[0-9.]* s of audio' "$work/log$n" | cut -d' ' -f1)
  printf '| synthetic | %d | %.1f | %.1f | %.1f | %.0f | %.0f |\n' "$n" "$(echo "$audio_s / 60" | bc -l)" \
    "$(echo "$(stat -c %s "$work/f$n.h5") / 1000000" | bc -l)" "$seconds" "$(echo "$audio_s / $seconds" | bc -l)" \
    "$(echo "$rss_kb / 1024" | bc -l)"
  rm -rf "$work/d$n" "$work/f$n.h5"
done
