// The part of CUDA's <mma.h> (nvcuda::wmma) the kernels use, for the kernel emulator. On a GPU a
// fragment is spread over the 32 lanes of a warp in an order the API leaves unspecified; here
// every lane holds the whole tile (so a kernel can only use it through these functions, as the
// API intends), and each call is a warp-wide point every lane must reach with the same pointer
// and stride. Loads and stores check CUDA's rules: a 32-byte aligned pointer, and a stride that
// is a multiple of 16 bytes (8 bf16 elements, 4 floats). The product accumulates in float, over
// k in order.
#pragma once

#include <cstdint>

#include "cuda_bf16.h"

namespace emu {
// Fails the launch unless every lane of the warp calls with the same value (a wmma call's
// pointer and stride); one more warp-wide point.
void warp_uniform(std::uint64_t value, int line, const char* what);
void fail_launch(const char* what, int line);
// A 256-float buffer of the calling lane's warp (lane() is in cuda_emulation.h, which the
// kernels include first).
float* warp_scratch();
} // namespace emu

inline float __bfloat162float(__nv_bfloat16 h) {
  std::uint32_t u = (std::uint32_t) h.bits << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

namespace nvcuda {
namespace wmma {

struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
enum layout_t { mem_row_major, mem_col_major };

template <typename Use, int M, int N, int K, typename T, typename Layout = void>
struct fragment {
  static constexpr int rows = std::is_same<Use, matrix_b>::value ? K : M;
  static constexpr int cols = std::is_same<Use, matrix_a>::value ? K : N;
  static constexpr int num_elements = rows * cols;
  T x[rows * cols]; // element (r, c) at x[r * cols + c]
};

namespace detail {
inline float to_float(float v) { return v; }
inline float to_float(__nv_bfloat16 v) { return __bfloat162float(v); }

template <typename T>
inline void check(const T* p, unsigned ldm, int line, const char* what) {
  if (((std::uintptr_t) p) % 32 != 0) {
    emu::fail_launch("a wmma pointer not 32-byte aligned", line);
  }
  if ((ldm * sizeof(T)) % 16 != 0) {
    emu::fail_launch("a wmma stride not a multiple of 16 bytes", line);
  }
  emu::warp_uniform((std::uint64_t) (std::uintptr_t) p, line, what);
  emu::warp_uniform(ldm, line, what);
}
} // namespace detail

template <typename Use, int M, int N, int K, typename T, typename Layout>
inline void fill_fragment_at(fragment<Use, M, N, K, T, Layout>& f, T v, int line) {
  emu::warp_uniform(0, line, "fill_fragment");
  for (int e = 0; e < f.num_elements; e++) f.x[e] = v;
}

// matrix_a or matrix_b, the layout in the fragment's type
template <typename Use, int M, int N, int K, typename T, typename Layout>
inline void load_matrix_sync_at(fragment<Use, M, N, K, T, Layout>& f, const T* p, unsigned ldm,
    int line) {
  detail::check(p, ldm, line, "load_matrix_sync");
  typedef fragment<Use, M, N, K, T, Layout> F;
  for (int r = 0; r < F::rows; r++) {
    for (int c = 0; c < F::cols; c++) {
      f.x[r * F::cols + c] =
          std::is_same<Layout, row_major>::value ? p[r * ldm + c] : p[c * ldm + r];
    }
  }
}

// an accumulator, the layout given
template <int M, int N, int K, typename T>
inline void load_matrix_sync_at(fragment<accumulator, M, N, K, T>& f, const T* p, unsigned ldm,
    layout_t layout, int line) {
  detail::check(p, ldm, line, "load_matrix_sync");
  for (int r = 0; r < M; r++) {
    for (int c = 0; c < N; c++) {
      f.x[r * N + c] = layout == mem_row_major ? p[r * ldm + c] : p[c * ldm + r];
    }
  }
}

template <int M, int N, int K, typename T>
inline void store_matrix_sync_at(T* p, const fragment<accumulator, M, N, K, T>& f, unsigned ldm,
    layout_t layout, int line) {
  detail::check(p, ldm, line, "store_matrix_sync");
  for (int r = 0; r < M; r++) {
    for (int c = 0; c < N; c++) {
      (layout == mem_row_major ? p[r * ldm + c] : p[c * ldm + r]) = f.x[r * N + c];
    }
  }
  emu::warp_uniform(0, line, "store_matrix_sync"); // every lane has stored before any goes on
}

// d = a b + c, in float, over k in order
template <int M, int N, int K, typename TA, typename LA, typename LB, typename TC>
inline void mma_sync_at(fragment<accumulator, M, N, K, TC>& d,
    const fragment<matrix_a, M, N, K, TA, LA>& a, const fragment<matrix_b, M, N, K, TA, LB>& b,
    const fragment<accumulator, M, N, K, TC>& c, int line) {
  static_assert(M * N == 256, "the emulated product shares a 256-element buffer");
  // every lane holds the same a, b and c (their loads were warp-uniform): lane l computes
  // elements 8 l to 8 l + 7 into the warp's buffer, and after a warp-wide point every lane
  // copies all of them
  float* shared = emu::warp_scratch();
  emu::warp_uniform(0, line, "mma_sync");
  for (int e = 8 * emu::lane(); e < 8 * emu::lane() + 8; e++) {
    const int m = e / N;
    const int n = e % N;
    TC acc = c.x[m * N + n];
    for (int k = 0; k < K; k++) {
      acc += detail::to_float(a.x[m * K + k]) * detail::to_float(b.x[k * N + n]);
    }
    shared[e] = acc;
  }
  emu::warp_uniform(0, line, "mma_sync");
  for (int e = 0; e < M * N; e++) d.x[e] = shared[e];
  emu::warp_uniform(0, line, "mma_sync"); // every lane has copied before the buffer is reused
}

} // namespace wmma
} // namespace nvcuda

#define fill_fragment(f, v) fill_fragment_at((f), (v), __LINE__)
#define load_matrix_sync(f, ...) load_matrix_sync_at((f), __VA_ARGS__, __LINE__)
#define store_matrix_sync(p, ...) store_matrix_sync_at((p), __VA_ARGS__, __LINE__)
#define mma_sync(d, a, b, c) mma_sync_at((d), (a), (b), (c), __LINE__)
