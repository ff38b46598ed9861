#!/usr/bin/env bash
# Throughput and accuracy of `tenor features` (full LLD set) against Praat (pitch + intensity
# only) on the same RAVDESS files, same machine, one run. Builds nothing: needs build/tenor
# (or --tenor PATH), praat and python3 on PATH.
#
#   bench/bench_features.sh [--files N] [--rate HZ] [--tenor PATH] [--data DIR] [--cpu C]
#
# Both run pinned to one CPU core (taskset -c C) and tenor with --threads 1, so the figures are
# per core. Times include reading and decoding the files (and tenor's resampling to --rate);
# "in-process" excludes process start-up (LibTorch loading for tenor), "wall" includes it.
# Prints a Markdown block for docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."

files=48 rate=16000 tenor=build/tenor data=../shared/data/ravdess-anger/audio cpu=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --files) files=$2; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    --tenor) tenor=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    --cpu) cpu=$2; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "bench_features.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
[[ -x $tenor ]] || { echo "bench_features.sh: $tenor is not built; run scripts/build.sh" >&2; exit 2; }
command -v praat >/dev/null || { echo "bench_features.sh: praat is not installed (apt install praat)" >&2; exit 2; }
[[ -d $data ]] || { echo "bench_features.sh: $data is absent" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mapfile -t all < <(find "$(cd "$data" && pwd)" -name '*.wav' | sort)
step=$(( ${#all[@]} / files )); (( step >= 1 )) || step=1
: > "$work/list.txt"
for (( i = 0; i < files && i * step < ${#all[@]}; i++ )); do echo "${all[i * step]}" >> "$work/list.txt"; done
mapfile -t picked < "$work/list.txt"
audio_s=$(python3 - "$work/list.txt" <<'PY'
import sys, wave
print(f"{sum(w.getnframes() / w.getframerate() for w in (wave.open(p.strip()) for p in open(sys.argv[1]) if p.strip())):.3f}")
PY
)
pin=(taskset -c "$cpu")
now() { date +%s.%N; }

# Warm-up (file cache, shared libraries), then one timed run each.
"${pin[@]}" praat --run bench/features/pitch_intensity.praat "$work/list.txt" "" > /dev/null
"${pin[@]}" "$tenor" features --threads 1 --sample-rate "$rate" "${picked[@]:0:4}" > /dev/null

t0=$(now)
praat_s=$("${pin[@]}" praat --run bench/features/pitch_intensity.praat "$work/list.txt" "")
t1=$(now)
"${pin[@]}" "$tenor" features --threads 1 --timing --sample-rate "$rate" "${picked[@]}" > /dev/null 2> "$work/tenor.log"
t2=$(now)
tenor_s=$(sed -n 's/.*compute \([0-9.e+-]*\) s.*/\1/p' "$work/tenor.log")
praat_wall=$(echo "$t1 - $t0" | bc -l)
tenor_wall=$(echo "$t2 - $t1" | bc -l)
xrt() { echo "scale=1; $audio_s / $1" | bc -l; }

# Accuracy on the same files: Praat frames, and tenor CSVs cut so its frame times equal Praat's.
mkdir -p "$work/praat" "$work/tenor"
praat --run bench/features/pitch_intensity.praat "$work/list.txt" "$work/praat" > /dev/null
for f in "${picked[@]}"; do
  base=$(basename "$f" .wav)
  t1p=$(sed -n '2{s/,.*//;p}' "$work/praat/$base.csv")
  cut=$(python3 -c "import math; print(f'{math.fmod($t1p - 0.005, 0.01) % 0.01:.6f}')")
  "$tenor" features --sample-rate "$rate" --start "$cut" --csv "$f" > "$work/tenor/$base.csv"
done
accuracy=$(python3 bench/features/compare.py "$work/tenor" "$work/praat")

cat <<MD
### tenor features vs Praat ($(date -u +%Y-%m-%d))

- Command: \`bench/bench_features.sh --files ${#picked[@]} --rate $rate\`
- Machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores visible, runs pinned to core $cpu; $(uname -sr)
- Versions: $("$tenor" --version 2>/dev/null | head -1 || echo tenor), $(praat --version | head -1)
- Data: ${#picked[@]} RAVDESS files ($data), ${audio_s} s of audio, 48 kHz; tenor analyses at ${rate} Hz (soxr), Praat at 48 kHz

| | computes | in-process s | x real time | wall s (with start-up) | x real time |
|---|---|---|---|---|---|
| Praat \`To Pitch (ac)\` + \`To Intensity\` | F0, intensity | ${praat_s} | $(xrt "$praat_s") | $(printf %.3f "$praat_wall") | $(xrt "$praat_wall") |
| tenor features --threads 1 | $(head -1 "$work/tenor/$(basename "${picked[0]}" .wav).csv" | tr ',' '\n' | tail -n +2 | wc -l) LLD columns | ${tenor_s} | $(xrt "$tenor_s") | $(printf %.3f "$tenor_wall") | $(xrt "$tenor_wall") |

- tenor / Praat speed (in-process): $(echo "scale=2; $praat_s / $tenor_s" | bc -l) x; (wall): $(echo "scale=2; $praat_wall / $tenor_wall" | bc -l) x
- ${accuracy}
MD
