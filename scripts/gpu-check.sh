#!/usr/bin/env bash
# One-shot GPU check (issue 18, item 6), made for the lent GPU machine: at most 8 minutes of
# wall time, every figure into one results file that comes back with the run.
#
#   scripts/gpu-check.sh [--device cuda|cpu] [--out DIR] [--build DIR] [--no-build]
#                        [--budget SECONDS]
#
# --device cuda (the default, on the GPU machine): builds tenor and the `gpu` tests against
#   that machine's own PyTorch (TENOR_PYTHON=python3) with the Debian libraries carried in
#   .deps (docs/gpu.md, ../shared/device/), runs the `gpu` tests, then the GPU benchmarks:
#   `data build` x real time on CUDA and on CPU, and `tenor train` against the plain PyTorch
#   loop (bench/train/torch_loop.py) on the same GPU, bf16 on both sides.
# --device cpu (the dry run, in CI): the same steps on the existing CPU build (scripts/build.sh),
#   minus the CUDA parts; the `gpu` tests must then all skip. This is what keeps the script
#   itself tested.
# --no-build: use DIR's tenor and gpu_test as they are (the dry run inside ctest).
# Results: DIR/results.txt (default $OUT, else gpu-check-out/), `key: value` lines, written
# atomically at the end; logs of every step beside it. Exit 0 when every step passed.
set -euo pipefail
cd "$(dirname "$0")/.."
device=cuda out=${OUT:-gpu-check-out} build="" budget=480 no_build=0
while (($#)); do
  case $1 in
    --device) device=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --budget) budget=$2; shift 2 ;;
    --no-build) no_build=1; shift ;;
    *) echo "gpu-check: unknown argument '$1' (see the header of $0)" >&2; exit 2 ;;
  esac
done
[[ $device == cuda || $device == cpu ]] || { echo "gpu-check: --device is cuda or cpu" >&2; exit 2; }
mkdir -p "$out"
results=$out/results.txt
: >"$results.partial"
failed=0
start=$SECONDS
note() { echo "$1: $2" >>"$results.partial"; echo "gpu-check: $1: $2" >&2; }
left() { echo $((budget - (SECONDS - start))); }
# step NAME SECONDS CMD...: runs CMD with a time limit (capped by what is left of the budget),
# its output into DIR/NAME.log; notes how it ended.
step() {
  local name=$1 limit=$2
  shift 2
  ((limit > $(left))) && limit=$(left)
  if ((limit < 5)); then note "$name" "not run (budget of ${budget} s spent)"; failed=1; return 1; fi
  local t0=$SECONDS rc=0
  timeout "$limit" "$@" >"$out/$name.log" 2>&1 || rc=$?
  note "$name.seconds" $((SECONDS - t0))
  if ((rc != 0)); then
    note "$name" "FAILED (exit $rc$( ((rc == 124)) && echo ", over ${limit} s"); see $name.log)"
    failed=1
    return 1
  fi
  note "$name" ok
}
finish() {
  note total_seconds $((SECONDS - start))
  note result "$( ((failed == 0)) && echo pass || echo FAIL)"
  mv "$results.partial" "$results"
  echo "gpu-check: results in $results" >&2
  exit $failed
}

note date "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
note device "$device"
note commit "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
note machine "$(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p' | head -1)"
command -v nvidia-smi >/dev/null &&
  note gpus "$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | paste -sd';')"

# 1. Build.
if ((no_build)); then
  build=${build:-build}
  note build "skipped (--no-build)"
elif [[ $device == cuda ]]; then
  build=${build:-build-gpu}
  if [[ -f .deps/unpack-debs.sh ]]; then
    bash .deps/unpack-debs.sh /opt/deps >"$out/deps.env"
    # shellcheck disable=SC1091
    . "$out/deps.env"
  fi
  # LibTorch's CMake package needs nvcc; a pip-installed PyTorch may lack it, and the
  # reference loop needs h5py and yaml: both come as wheels in .deps/wheels (docs/gpu.md).
  if [[ -d .deps/wheels ]]; then
    step python_extras 90 python3 -m pip install -q --no-index --find-links .deps/wheels \
      --target "$out/py" 'cuda-toolkit[nvcc,crt,nvvm,cccl]' h5py pyyaml || true
    export PYTHONPATH=$out/py${PYTHONPATH:+:$PYTHONPATH}
    site=$(python3 -c 'import os, torch; print(os.path.dirname(os.path.dirname(torch.__file__)))')
    if [[ ! -x $site/nvidia/cu13/bin/nvcc && -z ${CUDA_HOME:-} && -x $out/py/nvidia/cu13/bin/nvcc ]]
    then
      export CUDA_HOME=$out/py/nvidia/cu13
    fi
  fi
  step configure 120 cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DTENOR_PYTHON="$(command -v python3)" || finish
  step build 300 cmake --build "$build" --parallel "$(nproc)" --target tenor gpu_test || finish
else
  build=${build:-build}
  step build 1800 cmake --build "$build" --target tenor gpu_test || finish
fi
tenor=$build/tenor
"$tenor" --version >"$out/version.txt" 2>&1 || true
while IFS= read -r line; do note "version" "$line"; done <"$out/version.txt"

# 2. The gpu tests: all must pass on CUDA; in the dry run, with no GPU visible, all must skip.
if [[ $device == cpu ]]; then export CUDA_VISIBLE_DEVICES=""; fi
step gpu_tests 120 "$build/tests/gpu_test" --gtest_output="json:$out/gpu_tests.json" || true
if [[ -f $out/gpu_tests.json ]]; then
  counts=$(python3 - "$out/gpu_tests.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
tests = [t for s in r["testsuites"] for t in s["testsuite"]]
skipped = sum(t.get("result") == "SKIPPED" for t in tests)
failed = sum(bool(t.get("failures")) for t in tests)
print(len(tests) - skipped - failed, failed, skipped)
EOF
)
  read -r passed nfailed skipped <<<"$counts"
  note gpu_tests_counts "$passed passed, $nfailed failed, $skipped skipped"
  if [[ $device == cpu && $passed != 0 ]] || [[ $device == cuda && $skipped != 0 ]]; then
    note gpu_tests_expectation "FAILED (cuda: none may skip; cpu: all must skip)"
    failed=1
  fi
fi
if [[ $device == cpu ]]; then unset CUDA_VISIBLE_DEVICES; fi

# 3. data build, x real time, on the shared ravdess-anger set (19 min of audio).
data=../shared/data/ravdess-anger
devices=(cpu)
[[ $device == cuda ]] && devices=(cuda cpu)
for d in "${devices[@]}"; do
  if [[ ! -d $data ]]; then note "data_build_$d" "not run (no $data)"; break; fi
  rm -f "$out/store-$d.h5"
  step "data_build_$d" 150 "$tenor" data build "$data" --out "$out/store-$d.h5" --device "$d" \
    --no-progress || continue
  note "data_build_${d}_x_real_time" \
    "$(grep -o '([0-9.]*x real time)' "$out/data_build_$d.log" | tr -d '()' | tail -1)"
done

# 4. Training throughput: tenor train against the plain PyTorch loop on the same device and
# store (2 epochs, the first not timed), bf16 autocast on CUDA on both sides.
store=$out/store-cpu.h5
if [[ -f $store ]]; then
  bf16=$([[ $device == cuda ]] && echo true || echo false)
  # A fresh run each time, as the store above: an earlier check's run (another tenor, another
  # config) would be resumed or refused, not measured.
  if [[ -f $out/run/config.yaml ]]; then rm -rf -- "$out/run"; fi
  step train_tenor 120 "$tenor" train --config configs/ravdess-anger.yaml --device "$device" \
    --set features="$store" --set out="$out/run" --set epochs=2 --set patience=10 \
    --set checkpoint_every_steps=100000 --set bf16="$bf16" --set model.use_text=false \
    --set model.dropout=0.3 --set model.modality_dropout=0.1 --set normalize_loudness=false \
    --set augment.probability=0 --set selection=clean --set calibration=clean \
    --set "drop_features=[]" --set 'speech_encoder=""' || true
  if [[ -f $out/run/metrics.jsonl ]]; then
    note train_tenor_segments_per_s "$(python3 -c 'import json,sys; m=[json.loads(l) for l in open(sys.argv[1])][1:]; print(round(sum(x["segments_per_s"]*x["train_seconds"] for x in m)/sum(x["train_seconds"] for x in m), 1))' "$out/run/metrics.jsonl")"
  fi
  # The GPU machine's python3 has torch (2.11); on CPU, .venv has the wheel's with numpy, h5py.
  py=python3
  [[ $device == cpu && -x .venv/bin/python ]] && py=.venv/bin/python
  step train_python 120 "$py" bench/train/torch_loop.py --store "$store" --epochs 2 --use-text 0 \
    --dropout 0.3 --modality-dropout 0.1 --hidden 64 --conv-channels 64 --lr 0.002 \
    --device "$device" --bf16 "$([[ $device == cuda ]] && echo 1 || echo 0)" || true
  if [[ -s $out/train_python.log ]]; then
    note train_python_segments_per_s "$(tail -1 "$out/train_python.log" | python3 -c 'import json,sys; print(round(json.loads(sys.stdin.read())["segments_per_s"], 1))' 2>/dev/null || echo unknown)"
  fi
fi
finish
