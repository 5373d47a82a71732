#!/usr/bin/env bash
# Compiles src/main/cuda/sdpo_kernels.cu into one fatbin (machine code for Turing sm_75, Ampere
# sm_80 with its PTX, which newer GPUs compile at load, and Hopper sm_90a) at $1, with ptxas's register report in $2. Run by Maven
# in generate-resources. Without nvcc it says so and builds nothing: the CUDA backend then
# reports at start-up that this build has no kernels, and everything else works as before.
# nvcc: $NVCC, else the one on PATH, else /usr/local/cuda/bin, else the newest /usr/local/cuda-*.
set -euo pipefail
out="$1"
log="$2"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
nvcc="${NVCC:-}"
if [[ -z "$nvcc" ]]; then
  nvcc="$(command -v nvcc || true)"
fi
for c in /usr/local/cuda/bin/nvcc $(ls -d /usr/local/cuda-*/bin/nvcc 2>/dev/null | sort -V -r); do
  [[ -z "$nvcc" && -x "$c" ]] && nvcc="$c"
done
if [[ -z "$nvcc" ]]; then
  echo "tensor-cuda: nvcc not found (set NVCC to build the CUDA kernels); building without them"
  rm -f "$out"
  exit 0
fi
mkdir -p "$(dirname "$out")" "$(dirname "$log")"
"$nvcc" -fatbin -O3 -std=c++17 \
  -gencode arch=compute_75,code=sm_75 -gencode arch=compute_80,code=[sm_80,compute_80] \
  -gencode arch=compute_90a,code=sm_90a \
  -Xptxas -v,-warn-spills -o "$out" "$here/src/main/cuda/sdpo_kernels.cu" >"$log" 2>&1 || {
  cat "$log" >&2
  exit 1
}
echo "tensor-cuda: $(basename "$out") built by $nvcc ($(grep -c 'Compiling entry' "$log") kernel compilations)"
