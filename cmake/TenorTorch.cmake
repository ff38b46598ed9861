# Which LibTorch tenor builds against (included from the root CMakeLists.txt).
#
# TENOR_TORCH=wheel (default): the LibTorch inside the pinned PyTorch wheel that
#   scripts/install-deps.sh installs into .venv (CUDA, cuDNN and NCCL compiled in). Its CMake
#   package (Caffe2's cuda.cmake) demands a CUDA toolkit at configure time; install-deps.sh
#   installs the matching one from PyPI (cuda-toolkit[nvcc,crt,nvvm,cccl]) beside the wheel,
#   and this file points CMake at it through FindCUDA's documented settings.
# TENOR_TORCH=system: Debian's libtorch-dev 1.13 (CPU only), found by plain find_package.
#
# Bad input stops here with one sentence: no .venv, a torch without CUDA, a torch on the old
# C++ ABI (Debian's yaml-cpp, spdlog, HDF5, protobuf and sentencepiece use the new one).
set(TENOR_TORCH wheel CACHE STRING "LibTorch to build against: wheel (.venv, default) or system")
set_property(CACHE TENOR_TORCH PROPERTY STRINGS wheel system)
set(TENOR_VENV ${CMAKE_SOURCE_DIR}/.venv CACHE PATH "Virtual environment holding the torch wheel")
# A Python with torch installed some other way (the GPU machine's own PyTorch) may stand in.
set(TENOR_PYTHON ${TENOR_VENV}/bin/python CACHE FILEPATH "Python whose torch to build against")

# A build folder configured before against another LibTorch (Debian's, or another wheel or
# cache folder) keeps find_package's and find_library's answers in its cache: forget them
# when the choice changes.
macro(tenor_torch_choice choice)
  if(NOT "${choice}" STREQUAL "${TENOR_TORCH_CONFIGURED}")
    foreach(_var Torch_DIR Caffe2_DIR TORCH_LIBRARY c10_LIBRARY c10_cuda_LIBRARY kineto_LIBRARY
                 CUDA_TOOLKIT_ROOT_DIR CMAKE_CUDA_COMPILER CUDA_CUDART_LIBRARY
                 TENOR_NCCL_INCLUDE_DIR TENOR_NVCC)
      unset(${_var} CACHE)
    endforeach()
    # enable_language(CUDA) (inside LibTorch's package) remembers its compiler here as well.
    file(REMOVE ${CMAKE_BINARY_DIR}/CMakeFiles/${CMAKE_VERSION}/CMakeCUDACompiler.cmake)
  endif()
  set(_tenor_choice "${choice}")  # recorded once LibTorch is found (a failed try resets again)
endmacro()

# Both set TENOR_TORCH_VERSION ("2.11.0+cu130") and TENOR_TORCH_CUDA ("13.0", or "" for a CPU
# LibTorch) for the tests that check what `tenor --version` reports.
if(TENOR_TORCH STREQUAL "system")
  tenor_torch_choice(system)
  find_package(Torch REQUIRED)
  set(TENOR_TORCH_CONFIGURED "${_tenor_choice}" CACHE INTERNAL "")
  set(TENOR_TORCH_VERSION ${Torch_VERSION})
  set(TENOR_TORCH_CUDA "")
  return()
elseif(NOT TENOR_TORCH STREQUAL "wheel")
  message(FATAL_ERROR "TENOR_TORCH is '${TENOR_TORCH}': use wheel (the default) or system.")
endif()

set(_fix "run scripts/install-deps.sh to install the pinned torch wheel into ${TENOR_VENV}, or "
         "configure with -DTENOR_TORCH=system to build against Debian's libtorch-dev 1.13")
string(CONCAT _fix ${_fix})
if(NOT EXISTS ${TENOR_PYTHON})
  message(FATAL_ERROR "No virtual environment at ${TENOR_VENV} (no ${TENOR_PYTHON}; "
                      "TENOR_TORCH=wheel): ${_fix}.")
endif()
execute_process(
  COMMAND ${TENOR_PYTHON} -c
    "import os, torch; print(torch.__version__); print(torch.version.cuda or ''); print(int(torch.compiled_with_cxx11_abi())); print(os.path.dirname(os.path.dirname(torch.__file__)))"
  RESULT_VARIABLE _rc OUTPUT_VARIABLE _out ERROR_VARIABLE _err OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT _rc EQUAL 0)
  message(FATAL_ERROR "${TENOR_PYTHON} cannot import torch (the virtual environment "
                      "is broken or lacks the wheel): ${_fix}.")
endif()
string(REPLACE "\n" ";" _out "${_out}")
list(GET _out 0 TENOR_TORCH_VERSION)
list(GET _out 1 _cuda)
set(TENOR_TORCH_CUDA ${_cuda})
list(GET _out 2 _abi)
list(GET _out 3 _site)
tenor_torch_choice("wheel:${_site}")
if(_cuda STREQUAL "")
  message(FATAL_ERROR "The torch ${TENOR_TORCH_VERSION} in ${_site} has no CUDA compiled in "
                      "(a CPU-only wheel), so tenor's CUDA paths cannot link: ${_fix}.")
endif()
if(NOT _abi)
  message(FATAL_ERROR "The torch ${TENOR_TORCH_VERSION} in ${_site} uses the old C++ ABI "
                      "(_GLIBCXX_USE_CXX11_ABI=0) while Debian's yaml-cpp, spdlog, HDF5, protobuf "
                      "and sentencepiece use the new one, so they cannot be linked together: "
                      "${_fix}.")
endif()

# The CUDA toolkit of the same release, laid out by pip under nvidia/cu<major>; else one
# installed the usual way (CUDA_HOME, /usr/local/cuda: the GPU machine).
string(REGEX MATCH "^[0-9]+" _cuda_major "${_cuda}")
set(_cuda_root ${_site}/nvidia/cu${_cuda_major})
if(NOT EXISTS ${_cuda_root}/bin/nvcc)
  find_program(TENOR_NVCC nvcc HINTS $ENV{CUDA_HOME}/bin /usr/local/cuda/bin)
  if(NOT TENOR_NVCC)
    message(FATAL_ERROR "LibTorch's CMake package needs a CUDA ${_cuda} toolkit, and neither "
                        "${_cuda_root}/bin/nvcc nor an nvcc on PATH or in CUDA_HOME exists: "
                        "${_fix}.")
  endif()
  get_filename_component(_cuda_root ${TENOR_NVCC} DIRECTORY)
  get_filename_component(_cuda_root ${_cuda_root} DIRECTORY)
endif()
set(CUDA_TOOLKIT_ROOT_DIR ${_cuda_root} CACHE PATH "CUDA toolkit of the torch wheel")
set(CMAKE_CUDA_COMPILER ${_cuda_root}/bin/nvcc CACHE FILEPATH "nvcc of the torch wheel")
# pip's toolkit has lib/, not lib64/: nvcc's own link test needs to be told.
set(CMAKE_CUDA_FLAGS "-L${_cuda_root}/lib" CACHE STRING "" FORCE)
# tenor compiles no CUDA code of its own; this only quiets LibTorch's architecture probe.
set(TORCH_CUDA_ARCH_LIST "9.0" CACHE STRING "")
set(Python_EXECUTABLE ${TENOR_PYTHON} CACHE FILEPATH "")
# libonnx (export/) links protobuf::libprotobuf, which the wheel's Caffe2Config defines as an
# empty stand-in unless it exists already: find Debian's first (before the wheel's prefix,
# which holds protobuf 3.13 headers and protoc). The wheel hides its own protobuf's symbols.
find_package(Protobuf REQUIRED)
# The wheel's prefix first, so that Debian's /usr/lib libtorch is never picked by mistake.
list(PREPEND CMAKE_PREFIX_PATH ${_site}/torch ${_site}/torch/share/cmake)
# pip ships only versioned sonames (libcudart.so.13); let find_library accept them.
set(_suffixes ${CMAKE_FIND_LIBRARY_SUFFIXES})
list(APPEND CMAKE_FIND_LIBRARY_SUFFIXES .so.${_cuda_major} .so.12 .so.11 .so.10 .so.9 .so.2 .so.1 .so.0)
find_package(Torch REQUIRED)
set(CMAKE_FIND_LIBRARY_SUFFIXES ${_suffixes})
string(FIND "${TORCH_LIBRARY}" "${_site}/" _at)
if(NOT _at EQUAL 0)
  message(FATAL_ERROR "find_package(Torch) found ${TORCH_LIBRARY} instead of the wheel's LibTorch "
                      "in ${_site}: remove the build folder and configure again.")
endif()
set(TENOR_TORCH_CONFIGURED "${_tenor_choice}" CACHE INTERNAL "")
message(STATUS "tenor: LibTorch ${TENOR_TORCH_VERSION} (CUDA ${_cuda}) from ${_site}")

# The wheel's libtorch*.so export their toolchain's copies of some libstdc++ functions
# (std::filesystem, std::chrono's tzdb: 64 in libtorch.so alone). The first library in the
# process's lookup order wins for every caller, and through libtorch.so's copy tenor's
# std::filesystem::remove_all jumped to address 0. The system's libstdc++ goes first.
add_link_options("LINKER:--push-state,--no-as-needed" "-lstdc++" "LINKER:--pop-state")

# c10d's ProcessGroupNCCL.hpp includes <nccl.h>, which the wheel's include/ lacks: it comes
# with the nvidia-nccl wheel beside it (train/CMakeLists.txt adds it to tenor_train).
find_path(TENOR_NCCL_INCLUDE_DIR nccl.h HINTS ${_site}/nvidia/nccl/include ${_cuda_root}/include)
if(NOT TENOR_NCCL_INCLUDE_DIR)
  message(FATAL_ERROR "LibTorch ${TENOR_TORCH_VERSION} has c10d's NCCL backend but nccl.h is "
                      "missing (neither ${_site}/nvidia/nccl/include nor the CUDA toolkit has "
                      "it): ${_fix}.")
endif()

# The wheel's include/ also carries its own fmt (12) and protobuf headers, which would shadow
# Debian's fmt (spdlog's, libfmt.so) and protobuf (libonnx's) for every target that links
# torch. A folder of links to Debian's copies, searched first, keeps each header with its
# library; LibTorch's own headers compile against either fmt.
set(_shim ${CMAKE_BINARY_DIR}/debian-headers)
file(MAKE_DIRECTORY ${_shim})
foreach(_probe fmt/core.h google/protobuf/message.h)
  string(REGEX MATCH "^[a-z]+" _dir ${_probe})
  # NO_CMAKE_PATH: not the CMAKE_PREFIX_PATH variable, which leads to the wheel's copies;
  # the environment's CMAKE_PREFIX_PATH (Debian packages unpacked elsewhere) still counts.
  find_path(TENOR_DEBIAN_${_dir}_INCLUDE_DIR ${_probe} NO_CMAKE_PATH)
  if(NOT TENOR_DEBIAN_${_dir}_INCLUDE_DIR)
    message(FATAL_ERROR "Debian's ${_probe} is missing (its copy must win over the torch "
                        "wheel's): run scripts/install-deps.sh.")
  endif()
  file(CREATE_LINK ${TENOR_DEBIAN_${_dir}_INCLUDE_DIR}/${_dir} ${_shim}/${_dir} SYMBOLIC)
endforeach()
include_directories(BEFORE SYSTEM ${_shim})
