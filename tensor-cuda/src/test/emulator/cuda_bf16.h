// The part of CUDA's <cuda_bf16.h> the kernels use, for the kernel emulator (host C++): a
// bfloat16 as its 16 bits, and conversions from float rounding to nearest, ties to even, as the
// device's __float2bfloat16_rn does (a NaN stays a NaN).
#pragma once

#include <cstdint>
#include <cstring>

struct __nv_bfloat16 {
  std::uint16_t bits;

  __nv_bfloat16() = default;

  explicit __nv_bfloat16(float f) {
    std::uint32_t u;
    std::memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) {
      bits = 0x7fff; // the canonical NaN
    } else {
      u += 0x7fffu + ((u >> 16) & 1u);
      bits = (std::uint16_t) (u >> 16);
    }
  }
};

struct __nv_bfloat162 {
  __nv_bfloat16 x;
  __nv_bfloat16 y;
};

inline __nv_bfloat16 __float2bfloat16_rn(float f) { return __nv_bfloat16(f); }

inline __nv_bfloat162 __floats2bfloat162_rn(float a, float b) {
  return __nv_bfloat162{__nv_bfloat16(a), __nv_bfloat16(b)};
}
