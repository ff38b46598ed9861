#!/usr/bin/env bash
# Runs clang-tidy with the checks of .clang-tidy (function size, cognitive complexity) over
# every .cpp of train/, eval/, export/, scoring/ and cli/, one process per core, and fails with the
# file:line of each violation. `cmake --build build --target lint` calls it with the tools
# CMake found; by hand: scripts/lint.sh [RUN_CLANG_TIDY CLANG_TIDY BUILD_DIR].
set -uo pipefail
cd "$(dirname "$0")/.."
runner=${1:-run-clang-tidy} tidy=${2:-clang-tidy} build=${3:-build}
[[ -f $build/compile_commands.json ]] || {
  echo "lint: $build/compile_commands.json is missing; configure and build first (scripts/build.sh)" >&2
  exit 2
}
# The -D flags change only this parse, never the build: clang 14 instantiates the C++20
# constexpr members of libstdc++ 12's std::vector and std::string (and fmt's
# FMT_CONSTEXPR20 functions) eagerly, and then fails on LibTorch's c10::IValue, which is still
# incomplete where ATen/core/List.h stores it in a vector. Without constexpr there (the old
# string ABI has none, _MSVC_LANG makes fmt see C++17), the headers parse as GCC parses them.
tidy_args=(-extra-arg=-D_GLIBCXX20_CONSTEXPR= -extra-arg=-D_GLIBCXX_USE_CXX11_ABI=0
           -extra-arg=-D_MSVC_LANG=201703L)
# A gate that checks nothing must not pass: count the files it will check.
files=$(grep -cE "\"file\": \"$PWD/(train|eval|export|scoring|cli)/[^/\"]*\.cpp\"" "$build/compile_commands.json")
if ((files == 0)); then
  echo "lint: no .cpp of $PWD/{train,eval,export,scoring,cli} in $build/compile_commands.json;" \
       "configure the build from this checkout (scripts/build.sh)" >&2
  exit 2
fi
echo "lint: clang-tidy on $files files (about 10 s each that includes LibTorch)"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# run-clang-tidy 14 forces colour and echoes every command line: keep only the diagnostics.
"$runner" -quiet -clang-tidy-binary "$tidy" -p "$build" "${tidy_args[@]}" \
    -header-filter="^$PWD/(train|eval|export|scoring|cli)/[^/]*\.h$" \
    "^$PWD/(train|eval|export|scoring|cli)/[^/]*\.cpp$" 2>&1 |
  sed -uE 's/\x1b\[[0-9;]*m//g' |
  grep --line-buffered -vE "^[^ ]*clang-tidy(-[0-9]+)? |^[0-9]+ warnings?( and [0-9]+ errors?)? generated\.$" |
  tee "$log"
status=${PIPESTATUS[0]}
if ((status != 0)); then
  n=$(grep -cE ': error: .*\[readability-' "$log")
  if ((n == 0)); then
    echo "lint: failed: clang-tidy could not check every file (see its errors above)" >&2
  else
    echo "lint: failed: $n violation(s) of .clang-tidy's limits above (file:line: function);" \
         "split the function into named steps (README, Development)" >&2
  fi
  exit 1
fi
echo "lint: ok ($files files of train/ eval/ export/ scoring/ cli/: no function over the limits of .clang-tidy)"
