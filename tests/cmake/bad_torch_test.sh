#!/usr/bin/env bash
# Bad input for LibTorch discovery (issue 18): a missing virtual environment, a torch
# without CUDA, a torch on the old C++ ABI. Each must stop CMake with one sentence naming
# the cause and the fix. A fake python stands in for the venv's, so this runs in seconds.
# Usage: bad_torch_test.sh SOURCE_DIR
set -uo pipefail
src=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0

# fake_python NAME VERSION CUDA ABI: a python that answers TenorTorch.cmake's one question.
fake_python() {
  mkdir -p "$tmp/$1/bin" "$tmp/$1/site/torch"
  printf '#!/bin/sh\nprintf "%%s\\n" "%s" "%s" "%s" "%s"\n' "$2" "$3" "$4" "$tmp/$1/site" \
    >"$tmp/$1/bin/python"
  chmod +x "$tmp/$1/bin/python"
}

# expect NAME PATTERN CMAKE_ARGS...: configure fails and its error (CMake wraps it; lines are
# joined) matches PATTERN.
expect() {
  local name=$1 pattern=$2
  shift 2
  local out
  out=$(cmake -S "$src" -B "$tmp/build-$name" -DTENOR_BUILD_TESTS=OFF "$@" 2>&1)
  local rc=$?
  if ((rc == 0)); then
    echo "FAIL $name: configure succeeded"; fails=$((fails + 1))
  elif ! tr '\n' ' ' <<<"$out" | tr -s ' ' | grep -qE "$pattern"; then
    echo "FAIL $name: no /$pattern/ in:"; echo "$out" | grep -A6 'CMake Error'; fails=$((fails + 1))
  else
    echo "ok   $name"
  fi
}

expect missing-venv 'No virtual environment at /nonexistent/venv .*run scripts/install-deps.sh' \
  -DTENOR_VENV=/nonexistent/venv -DTENOR_PYTHON=/nonexistent/venv/bin/python
fake_python cpu 2.11.0+cpu "" 1
expect no-cuda 'has no CUDA compiled in \(a CPU-only wheel\).*run scripts/install-deps.sh' \
  -DTENOR_PYTHON="$tmp/cpu/bin/python"
fake_python oldabi 2.11.0+cu130 13.0 0
expect old-abi 'uses the old C\+\+ ABI \(_GLIBCXX_USE_CXX11_ABI=0\).*cannot be linked together' \
  -DTENOR_PYTHON="$tmp/oldabi/bin/python"
expect bad-choice "TENOR_TORCH is 'cuda': use wheel" -DTENOR_TORCH=cuda
((fails == 0)) && echo "4 passed, 0 failed" || { echo "$fails failed"; exit 1; }
