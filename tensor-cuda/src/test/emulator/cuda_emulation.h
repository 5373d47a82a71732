// What a CUDA kernel source needs to compile as host C++ for the kernel emulator
// (kernel_emulator.cpp): the built-in indices, __shared__, __syncthreads, warp shuffles and the
// device functions the kernels call. A block's threads run as fibers on one host thread;
// __syncthreads and every shuffle are points where a fiber waits for the others, so the source
// runs with its real index arithmetic, shared memory and barriers, and the emulator checks what
// the hardware assumes: every thread of a block reaches the same barrier, every lane of a warp
// the same shuffle, and none exits while the others wait.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "cuda_bf16.h"

struct uint3 {
  unsigned int x, y, z;
};

struct dim3 {
  unsigned int x, y, z;
};

struct alignas(16) float4 {
  float x, y, z, w;
};

inline float4 make_float4(float x, float y, float z, float w) { return float4{x, y, z, w}; }

namespace emu {

extern uint3 thread_index;        // threadIdx of the fiber running now (set at each switch)
extern uint3 block_index;         // blockIdx of the block running now
extern dim3 block_dim;            // blockDim of this launch
extern dim3 grid_dim;             // gridDim of this launch

// Waits until every thread of the block reaches the barrier of this source line.
void block_barrier(int line);

// Publishes this lane's 8 bytes, waits for the warp's 32 lanes to reach the same shuffle, and
// returns lane src's bytes (its own where src is outside the warp); then waits again, so that no
// lane overwrites its slot before every lane has read.
std::uint64_t warp_exchange(unsigned int mask, std::uint64_t mine, int src, int line);

inline int lane() { return (int) (thread_index.x % 32); }

// A warp-wide point (as warp_exchange) at which every lane must hold the same value.
void warp_uniform(std::uint64_t value, int line, const char* what);

// Fails the launch with what and the source line; the calling fiber never resumes.
void fail_launch(const char* what, int line);

template <typename V>
V shuffle(unsigned int mask, V v, int src, int line) {
  static_assert(sizeof(V) <= 8, "shuffles move at most 8 bytes");
  std::uint64_t bits = 0;
  std::memcpy(&bits, &v, sizeof(V));
  bits = warp_exchange(mask, bits, src, line);
  V r;
  std::memcpy(&r, &bits, sizeof(V));
  return r;
}

} // namespace emu

#define threadIdx (emu::thread_index)
#define blockIdx (emu::block_index)
#define blockDim (emu::block_dim)
#define gridDim (emu::grid_dim)

#define __global__
#define __launch_bounds__(...)
#define __device__
#define __host__
#define __forceinline__ inline
#define __restrict__ __restrict
// One copy per kernel, shared by a block's fibers (blocks run one after another), all in one
// section, which the emulator fills with 0xff bytes (a NaN, or -1) before each block: a kernel
// that reads shared memory its block has not written reads NaNs, as it would read garbage on a
// GPU, instead of an earlier block's values.
#define __shared__ static __attribute__((section("emu_shared")))

#define __align__(n) __attribute__((aligned(n)))

#define __syncthreads() emu::block_barrier(__LINE__)
#define __syncwarp() emu::warp_uniform(0, __LINE__, "__syncwarp")
#define __shfl_sync(mask, v, src) emu::shuffle((mask), (v), (src), __LINE__)
#define __shfl_xor_sync(mask, v, m) emu::shuffle((mask), (v), emu::lane() ^ (m), __LINE__)
#define __shfl_down_sync(mask, v, d) emu::shuffle((mask), (v), emu::lane() + (d), __LINE__)

inline unsigned int __umulhi(unsigned int a, unsigned int b) {
  return (unsigned int) (((std::uint64_t) a * b) >> 32);
}

inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline long long max(long long a, long long b) { return a > b ? a : b; }
inline unsigned long long min(unsigned long long a, unsigned long long b) { return a < b ? a : b; }
inline unsigned long long max(unsigned long long a, unsigned long long b) { return a > b ? a : b; }
inline double __longlong_as_double(long long bits) {
  double d;
  std::memcpy(&d, &bits, sizeof d);
  return d;
}
inline long long __double_as_longlong(double d) {
  long long bits;
  std::memcpy(&bits, &d, sizeof bits);
  return bits;
}
inline unsigned long long __umul64hi(unsigned long long a, unsigned long long b) {
  return (unsigned long long) (((unsigned __int128) a * b) >> 64);
}

using std::isfinite;
