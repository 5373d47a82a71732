#!/usr/bin/env bash
# Builds the kernel emulator (src/test/emulator): the CUDA kernels of src/main/cuda compiled as
# host C++ into a shared library at $1, which the fake device can run instead of its Java twins
# (KernelEmulator; SDPO_KERNEL_EMULATOR=$1). Needs g++ (or $CXX) and Linux; without them it says
# so and exits 3, and the tests that need the library are skipped with that message. EMU_CXXFLAGS
# adds compiler flags (-DEMU_UCONTEXT: the portable fiber switch on x86-64 too).
set -euo pipefail
out="$1"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cxx="${CXX:-$(command -v g++ || command -v c++ || true)}"
if [[ -z "$cxx" ]]; then
  echo "tensor-cuda: no C++ compiler (g++ or \$CXX) found: the kernel emulator is not built"
  exit 3
fi
if [[ "$(uname -s)" != Linux ]]; then
  echo "tensor-cuda: the kernel emulator needs Linux (found $(uname -s)): not built"
  exit 3
fi
gen="$(mktemp -d)"
trap 'rm -rf "$gen"' EXIT
# every kernel's name: those of sdpo_kernels.cu as declared, those of the typed header twice
{
  sed -n 's/^extern "C" __global__ void \(__launch_bounds__([^)]*) \)\{0,1\}\([A-Za-z_0-9]*\)(.*/EMU_KERNEL(\2)/p' \
    "$here/src/main/cuda/sdpo_kernels.cu" "$here/src/test/emulator/selftest_kernels.cu"
  typed='s/^extern "C" __global__ void \(__launch_bounds__([^)]*) \)\{0,1\}SFX(\([A-Za-z_0-9]*\))(.*/'
  sed -n "${typed}EMU_KERNEL(\\2_f32)\\nEMU_KERNEL(\\2_f64)/p" \
    "$here/src/main/cuda/sdpo_kernels_typed.cuh"
} >"$gen/kernel_list.inc"
# the kernels' sources' digest, which KernelEmulator compares with the sources it was loaded with
digest="$(cat "$here/src/main/cuda/sdpo_kernels.cu" "$here/src/main/cuda/sdpo_kernels_typed.cuh" \
  | sha256sum | cut -c1-64)"
mkdir -p "$(dirname "$out")"
"$cxx" -std=c++17 -O2 -g -fPIC -shared -fvisibility=hidden -fno-strict-aliasing -Wall -Wextra \
  -Wno-unknown-pragmas -Wno-unused-parameter -Wno-sign-compare \
  -I "$here/src/test/emulator" -I "$here/src/main/cuda" -I "$gen" \
  -DEMU_SOURCE_DIGEST="\"$digest\"" ${EMU_CXXFLAGS:-} -o "$out.tmp" "$here/src/test/emulator/kernel_emulator.cpp"
mv "$out.tmp" "$out"
echo "tensor-cuda: kernel emulator built at $out ($(grep -c EMU_KERNEL "$gen/kernel_list.inc") kernels)"
