#!/usr/bin/env bash
# Peak memory of `tenor features` and `tenor predict` does not grow with the length of the
# call: makes long mono 16 kHz WAVs of speech (espeak-ng calls from `tenor data synth`, looped)
# in a temporary directory, then measures peak RSS (/usr/bin/time) and wall time of
#   tenor features FILE --csv > /dev/null
#   tenor predict --run RUN FILE --out P.json   (a tiny fusion model trained on synth data)
# for each length, side by side. Prints a Markdown table for docs/benchmarks.md.
#
#   bench/stream_memory_bench.sh [--tenor PATH] [--minutes "10 60 180"] [--skip-predict]
#                                [--skip-features]
set -euo pipefail
cd "$(dirname "$0")/.."

tenor=build/tenor minutes="10 60 180" predict=1 features=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --tenor) tenor=$2; shift 2 ;;
    --minutes) minutes=$2; shift 2 ;;
    --skip-predict) predict=0; shift ;;
    --skip-features) features=0; shift ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "stream_memory_bench.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
[[ -x $tenor ]] || { echo "stream_memory_bench.sh: $tenor is not built; run scripts/build.sh" >&2; exit 2; }
tenor=$(cd "$(dirname "$tenor")" && pwd)/$(basename "$tenor")

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
$tenor --log-level error data synth --out "$work/synth" --calls 24 --seed 3

# One long WAV per length: the synth calls mixed down to mono and repeated end to end.
for m in $minutes; do
  python3 - "$work/synth/audio" "$work/call-$m.wav" "$m" <<'PY'
import glob, struct, sys, wave
src, dst, minutes = sys.argv[1], sys.argv[2], float(sys.argv[3])
mono = bytearray()
for p in sorted(glob.glob(src + "/*.wav")):
    w = wave.open(p)
    assert w.getsampwidth() == 2 and w.getframerate() == 16000
    n, ch = w.getnframes(), w.getnchannels()
    s = struct.unpack(f"<{n * ch}h", w.readframes(n))
    mono += struct.pack(f"<{n}h", *(sum(s[i * ch:(i + 1) * ch]) // ch for i in range(n)))
want = int(minutes * 60 * 16000) * 2
out = wave.open(dst, "wb")
out.setnchannels(1), out.setsampwidth(2), out.setframerate(16000)
while want > 0:
    out.writeframes(mono[:want])
    want -= min(want, len(mono))
out.close()
PY
done

if (( predict )); then
  $tenor --log-level error data build "$work/synth" --out "$work/synth.h5" --no-progress
  $tenor --log-level error train --config configs/demo.yaml --set "features=$work/synth.h5" \
    --set "out=$work/run" --set epochs=1 >/dev/null 2>"$work/train.log" ||
    { echo "stream_memory_bench.sh: training the tiny model failed:" >&2; tail -5 "$work/train.log" >&2; exit 1; }
fi

measure() {  # measure NAME CMD...: prints "seconds MB"
  local name=$1; shift
  /usr/bin/time -f '%e %M' -o "$work/time-$name" "$@" >/dev/null 2>"$work/err-$name" ||
    { echo "stream_memory_bench.sh: $name failed:" >&2; tail -5 "$work/err-$name" >&2; exit 1; }
  local s kb
  read -r s kb < "$work/time-$name"
  printf '%s %.0f' "$s" "$(echo "$kb / 1024" | bc -l)"
}

echo "| audio (min) | WAV (MB) | features (s) | features peak RSS (MB) | predict (s) | predict peak RSS (MB) |"
echo "|---|---|---|---|---|---|"
for m in $minutes; do
  wav=$work/call-$m.wav
  f_s=- f_mb=- p_s=- p_mb=-
  if (( features )); then read -r f_s f_mb <<< "$(measure "f$m" "$tenor" features "$wav" --csv)"; fi
  if (( predict )); then
    read -r p_s p_mb <<< "$(measure "p$m" "$tenor" --log-level error predict --run "$work/run" \
      "$wav" --out "$work/p$m.json")"
  fi
  printf '| %s | %.0f | %s | %s | %s | %s |\n' "$m" "$(echo "$(stat -c %s "$wav") / 1000000" | bc -l)" \
    "$f_s" "$f_mb" "$p_s" "$p_mb"
done
