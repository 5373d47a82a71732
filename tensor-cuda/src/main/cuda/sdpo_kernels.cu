// The kernels of the CUDA backend (org.sdpo.tensor.cuda.CudaBackend), one per Backend method or
// step of one. Compiled by nvcc into one fatbin (sm_80 + PTX, sm_90a) and loaded with
// cuModuleLoadData. Every kernel is extern "C" with parameters of the types KernelSource knows
// (int, double, Dims, pointers); the Java side packs them in this order (KernelArgs), and the
// fake device (FakeDevice, tests) runs a Java twin of each kernel over the same packed bytes.
//
// Conventions: element type T is float or double (sdpo_kernels_typed.cuh is included once for
// each; SFX(name) names the instance name_f32 or name_f64). Arithmetic is done in double, as the
// CPU backend does, so results differ from the CPU only by summation order. Row kernels run one
// block of THREADS threads per row and reduce in a fixed tree order (deterministic: no atomics
// anywhere a sum's order matters).

#include <cuda_bf16.h>

#define MAX_RANK 6
#define THREADS 256
// column sums (col_partial): a block is COL_TILE columns by ROW_LANES row lanes
#define COL_TILE 32
#define ROW_LANES 8
// row kernels give a row of up to WARP_ROW elements to one warp (CudaBackend.WARP_ROW)
#define WARP_ROW 1024
// softmax_backward keeps a row of up to THREADS * ROW_REGS elements in registers (one read of it)
#define ROW_REGS 8

// An index space (shape, row-major) and the strides (in elements) of up to four operands over
// it: how a kernel reads broadcast and permuted views without copies. mul and shr divide by
// shape[k] without a hardware division: i / shape[k] = (umulhi(i, mul[k]) + i) >> shr[k] for
// 0 <= i < 2^31 (Dims.magic on the Java side computes them).
struct Dims {
  int rank;
  int n;
  int shape[MAX_RANK];
  int stride[4][MAX_RANK];
  unsigned int mul[MAX_RANK];
  int shr[MAX_RANK];
};

// The offset of element i of the index space in each of the four operands. The loop runs over
// all MAX_RANK axes, unrolled, skipping those past the rank: every index into the struct is a
// compile-time constant, so it is read from the parameter bank and never copied to local memory.
__device__ __forceinline__ void locate(const Dims& d, int i, int* off) {
  if (d.rank == 1) { // contiguous runs collapse to one axis: no division
    off[0] = i * d.stride[0][0];
    off[1] = i * d.stride[1][0];
    off[2] = i * d.stride[2][0];
    off[3] = i * d.stride[3][0];
    return;
  }
  off[0] = 0;
  off[1] = 0;
  off[2] = 0;
  off[3] = 0;
#pragma unroll
  for (int k = MAX_RANK - 1; k >= 0; --k) {
    if (k < d.rank) {
      int q = (int) ((__umulhi((unsigned int) i, d.mul[k]) + (unsigned int) i) >> d.shr[k]);
      int c = i - q * d.shape[k];
      i = q;
      off[0] += c * d.stride[0][k];
      off[1] += c * d.stride[1][k];
      off[2] += c * d.stride[2][k];
      off[3] += c * d.stride[3][k];
    }
  }
}

#define GRID_STRIDE(i, n) \
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += blockDim.x * gridDim.x)

// Memory-bound kernels take ILP elements per pass, S = the grid's threads apart (base, base + S,
// ...), and load all of them before computing and storing any: ILP loads in flight per thread
// instead of one. The launch gives THREADS * ILP elements to a block.
#define ILP 4
#define ILP_STEP ((long long) blockDim.x * gridDim.x)
#define ILP_LOOP(base, n) \
  for (long long base = blockIdx.x * (long long) blockDim.x + threadIdx.x; base < (n); \
       base += ILP * ILP_STEP)
#define ILP_AT(base, q) ((base) + (q) * ILP_STEP)

// Kernels over many tensors in one launch (a whole model's parameters: AdamW, gradient
// clipping) read a table from device memory: a row of MANY_ROW 64-bit words per tensor (up to
// four pointers, the element count, one double as bits), then a row of two per block (the
// tensor's index, the first element of the block's chunk). Block b takes elements
// [start, start + MANY_CHUNK) of its tensor; chunks follow each other tensor after tensor.
#define MANY_ROW 6
#define MANY_CHUNK 4096
#define MANY_BLOCK(table, tensors, te, start, end) \
  const long long* te = (table) + MANY_ROW * (table)[MANY_ROW * (tensors) + 2 * blockIdx.x]; \
  const long long start = (table)[MANY_ROW * (tensors) + 2 * blockIdx.x + 1]; \
  const long long end = min(te[4], start + (long long) MANY_CHUNK);

// Sum and max over the block's THREADS threads, in a fixed tree order; every thread gets it.
__device__ double block_sum(double v, double* sh) {
  sh[threadIdx.x] = v;
  __syncthreads();
  for (int s = THREADS / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) sh[threadIdx.x] += sh[threadIdx.x + s];
    __syncthreads();
  }
  double r = sh[0];
  __syncthreads();
  return r;
}

__device__ double block_max(double v, double* sh) {
  sh[threadIdx.x] = v;
  __syncthreads();
  for (int s = THREADS / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) sh[threadIdx.x] = fmax(sh[threadIdx.x], sh[threadIdx.x + s]);
    __syncthreads();
  }
  double r = sh[0];
  __syncthreads();
  return r;
}

// Sum and max over a warp's 32 lanes in a fixed tree (shuffles down, then lane 0's result to
// every lane): deterministic, and every lane gets the same value.
__device__ __forceinline__ double warp_sum(double v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
  return __shfl_sync(0xffffffffu, v, 0);
}

__device__ __forceinline__ double warp_max(double v) {
  for (int o = 16; o > 0; o >>= 1) v = fmax(v, __shfl_down_sync(0xffffffffu, v, o));
  return __shfl_sync(0xffffffffu, v, 0);
}

// GELU's tanh(v) = (1 - e) / (1 + e) with e = exp(-2|v|), as the CPU backend computes it
// (JavaKernels.geluTanh): its error is absolute, below 1e-16.
__device__ __forceinline__ double tanh_cpu(double v) {
  double e = exp(-2.0 * fabs(v));
  double t = (1.0 - e) / (1.0 + e);
  return v < 0 ? -t : t;
}

// Tensor.tanh's: below |v| = 0.55, tanh|v| = -m / (2 + m) with m = expm1(-2|v|), whose error is
// relative (1 - e would cancel: tanh(1e-20) is 1e-20, not 0); above, tanh_cpu (JavaKernels.tanh).
__device__ __forceinline__ double tanh_accurate(double v) {
  double a = fabs(v);
  if (a >= 0.55) return tanh_cpu(v);
  double m = expm1(-2.0 * a);
  double t = -m / (2.0 + m);
  return v < 0 ? -t : t;
}

// Backend.UnaryOp ordinals 0..10, Backend.ScalarOp ordinals at 16.., and 32 for a plain copy.
__device__ __forceinline__ double apply_map(int op, double v, double s) {
  switch (op) {
    case 0: return -v;
    case 1: return exp(v);
    case 2: return log(v);
    case 3: return tanh_accurate(v);
    case 4: return 1.0 / (1.0 + exp(-v));
    case 5: return sqrt(v);
    case 6: return fabs(v);
    case 7: return v > 0 ? v : 0.0;
    case 8: return v * v;
    case 9: return 1.0 / v;
    case 10: return v > 0 ? 1.0 : 0.0;
    case 16: return v + s;
    case 17: return v * s;
    case 18: return pow(v, s);
    case 19: return s - v;
    case 20: return s / v;
    default: return v;
  }
}

// Backend.BinaryOp ordinals.
__device__ __forceinline__ double apply_binary(int op, double u, double v) {
  switch (op) {
    case 0: return u + v;
    case 1: return u - v;
    case 2: return u * v;
    case 3: return u / v;
    case 4: return u > v ? 1.0 : 0.0;
    default: return (u != u || v != v) ? u + v : fmax(u, v);
  }
}

// out (operand 0) = a (operand 1), converting between element types.
template <typename A, typename O>
__device__ __forceinline__ void copy_impl(const Dims& d, const A* a, O* out) {
  ILP_LOOP(base, d.n) {
    A v[ILP];
    int to[ILP];
#pragma unroll
    for (int q = 0; q < ILP; q++) {
      long long i = ILP_AT(base, q);
      if (i < d.n) {
        int o[4];
        locate(d, (int) i, o);
        to[q] = o[0];
        v[q] = a[o[1]];
      }
    }
#pragma unroll
    for (int q = 0; q < ILP; q++) {
      if (ILP_AT(base, q) < d.n) out[to[q]] = (O) v[q];
    }
  }
}

extern "C" __global__ void copy_f32_f64(Dims d, const float* a, double* out) { copy_impl(d, a, out); }
extern "C" __global__ void copy_f64_f32(Dims d, const double* a, float* out) { copy_impl(d, a, out); }

// out (operand 0) = a (operand 1) rounded to bfloat16 (to nearest, ties to even): the bf16
// precision mode's matrix operands, multiplied by cuBLAS with float32 accumulation.
extern "C" __global__ void to_bf16_f32(Dims d, const float* a, __nv_bfloat16* out) {
  copy_impl(d, a, out);
}

// out (N) = a (N) rounded to bfloat16, both contiguous, a 16-byte aligned: four elements per
// thread, one 16-byte load and one 8-byte store (to_bf16_f32 does any view).
extern "C" __global__ void to_bf16_flat_f32(int n, const float* a, __nv_bfloat16* out) {
  int quads = n / 4;
  GRID_STRIDE(q, quads) {
    float4 v = reinterpret_cast<const float4*>(a)[q];
    __nv_bfloat162 lo = __floats2bfloat162_rn(v.x, v.y);
    __nv_bfloat162 hi = __floats2bfloat162_rn(v.z, v.w);
    reinterpret_cast<__nv_bfloat162*>(out)[2 * q] = lo;
    reinterpret_cast<__nv_bfloat162*>(out)[2 * q + 1] = hi;
  }
  GRID_STRIDE(i, n - 4 * quads) { out[4 * quads + i] = __float2bfloat16_rn(a[4 * quads + i]); }
}

// The mean cross-entropy from the picked log-probabilities: out = {-(sum of picked over rows not
// ignored) / valid (0 if none), valid}. One block of THREADS threads: thread t adds rows t,
// t + THREADS, ... in order, then block_sum's fixed tree (deterministic); the loss stays on the
// device.
extern "C" __global__ void nll_mean(int rows, int ignoreIndex, const int* targets,
    const double* picked, double* out) {
  __shared__ double sh[THREADS];
  double sum = 0.0;
  double valid = 0.0;
  for (int r = threadIdx.x; r < rows; r += blockDim.x) {
    if (targets[r] != ignoreIndex) {
      sum -= picked[r];
      valid += 1.0;
    }
  }
  sum = block_sum(sum, sh);
  valid = block_sum(valid, sh);
  if (threadIdx.x == 0) {
    out[0] = valid == 0.0 ? 0.0 : sum / valid;
    out[1] = valid;
  }
}

// Gradient clipping's decision, one block of THREADS threads: norm = sqrt of the partial sums of
// squares (thread t adds partials t, t + THREADS, ..., then block_sum's fixed tree); clip =
// {1, maxNorm / (norm + 1e-6)} when norm is finite, maxNorm > 0 and norm > maxNorm, else {0, 1}.
// clip_scale applies it.
extern "C" __global__ void clip_norm(int parts, double maxNorm, const double* partial,
    double* norm, double* clip) {
  __shared__ double sh[THREADS];
  double sum = 0.0;
  for (int i = threadIdx.x; i < parts; i += blockDim.x) sum += partial[i];
  sum = block_sum(sum, sh);
  if (threadIdx.x == 0) {
    double n = sqrt(sum);
    norm[0] = n;
    bool apply = isfinite(n) && maxNorm > 0.0 && n > maxNorm;
    clip[0] = apply ? 1.0 : 0.0;
    clip[1] = apply ? maxNorm / (n + 1e-6) : 1.0;
  }
}

// The finish of a column sum (col_partial wrote partial (k, chunks, C)): out0[c] = (sum over
// chunks, in order, of partial[0][chunk][c]) / divisor; mode 1 (layer norm) also out1[c] = the
// same of partial[1] (no divisor). One thread per column.
__device__ __forceinline__ void col_finish_at(int c, int mode, int chunks, int C,
    const double* partial, double* s0, double* s1) {
  double a = 0.0;
  double b = 0.0;
  for (int k = 0; k < chunks; k++) {
    a += partial[(long long) k * C + c];
    if (mode == 1) b += partial[(long long) (chunks + k) * C + c];
  }
  *s0 = a;
  *s1 = b;
}

// ------------------------------------------------------------------ flash attention: tiles
// Attention keeping each query's log-sum-exp instead of its probabilities (Backend.flashAttention
// and its backward). A block of THREADS threads is 16 x 16: ty = threadIdx.x / 16 owns the rows
// ty, ty + 16, ... of a tile and tx = threadIdx.x % 16 its columns tx, tx + 16. A block takes
// FA_BR queries (forward, dQ) or FA_BC keys (dK, dV) and walks the other side in tiles of FA_BC
// (FA_BQ queries for dK, dV), with head dims staged through shared memory in chunks of FA_DC, up
// to FA_DMAX (CudaBackend.FLASH_MAX_HEAD). Arithmetic is in T, each sum in a fixed order.
#define FA_BR 64
#define FA_BC 32
#define FA_BQ 32
#define FA_DC 32
#define FA_DMAX 128
#define FA_CH (FA_DMAX / FA_DC)

// The flash kernels read and write their (B, heads, T, D) tensors where they lie (a GPT-2 block's
// heads inside its projection's output, (B, T, 3, H, D)): element (b, h, i, d) of tensor x is at
// b s[x][0] + h s[x][1] + i s[x][2] + d, the head dimension contiguous. Slots: FA_Q .. FA_DV;
// a kernel reads those of its tensors. Indexed by compile-time constants only, so the struct
// stays in the parameter bank.
#define FA_Q 0
#define FA_K 1
#define FA_V 2
#define FA_O 3
#define FA_G 4
#define FA_DQ 5
#define FA_DK 6
#define FA_DV 7
struct FaHeads {
  int s[8][3];
};

// Where head h of batch row b of tensor x starts.
__device__ __forceinline__ long long fa_head(const FaHeads& hs, int x, int b, int h) {
  return (long long) b * hs.s[x][0] + (long long) h * hs.s[x][1];
}

template <typename E> __device__ __forceinline__ E fa_exp(E x);
template <> __device__ __forceinline__ float fa_exp<float>(float x) { return expf(x); }
template <> __device__ __forceinline__ double fa_exp<double>(double x) { return exp(x); }
template <typename E> __device__ __forceinline__ E fa_log(E x);
template <> __device__ __forceinline__ float fa_log<float>(float x) { return logf(x); }
template <> __device__ __forceinline__ double fa_log<double>(double x) { return log(x); }

// Sum and max over the 16 lanes of a half warp (the threads of one ty): an xor butterfly, so
// every lane gets the same value. Every lane of the warp must call it.
template <typename E> __device__ __forceinline__ E half_sum(E v) {
  for (int o = 8; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

template <typename E> __device__ __forceinline__ E half_max(E v) {
  for (int o = 8; o > 0; o >>= 1) {
    E w = __shfl_xor_sync(0xffffffffu, v, o);
    v = w > v ? w : v;
  }
  return v;
}

// sh[r][c] = src[(r0 + r) ld + d0 + c] for r < R, c < FA_DC; 0 outside rows [0, n), dims
// [0, D). ld: the rows' stride.
template <typename E, int R>
__device__ __forceinline__ void fa_load(E (*sh)[FA_DC + 1], const E* src, int n, int ld, int D,
    int r0, int d0) {
  for (int e = threadIdx.x; e < R * FA_DC; e += blockDim.x) {
    int r = e / FA_DC;
    int c = e % FA_DC;
    sh[r][c] = r0 + r < n && d0 + c < D ? src[(long long) (r0 + r) * ld + d0 + c] : (E) 0;
  }
}

// Whether query i sees key j (mrow: the batch row's key mask, or null).
template <typename E>
__device__ __forceinline__ bool fa_sees(int i, int j, int Tq, int Tk, int causal, int qoff,
    const E* mrow) {
  return i < Tq && j < Tk && (!causal || j <= qoff + i) && (mrow == nullptr || mrow[j] != (E) 0);
}

// acc[r][c] += sum over the chunk's FA_DC dims d, in order, of a[ty + 16 r][d] b[tx + 16 c][d].
template <typename E, int RA, int CB>
__device__ __forceinline__ void fa_dots(E (&acc)[RA][CB], E (*a)[FA_DC + 1], E (*b)[FA_DC + 1],
    int ty, int tx) {
#pragma unroll 4
  for (int d = 0; d < FA_DC; d++) {
    E x[RA];
    E y[CB];
#pragma unroll
    for (int r = 0; r < RA; r++) x[r] = a[ty + 16 * r][d];
#pragma unroll
    for (int c = 0; c < CB; c++) y[c] = b[tx + 16 * c][d];
#pragma unroll
    for (int r = 0; r < RA; r++) {
#pragma unroll
      for (int c = 0; c < CB; c++) acc[r][c] += x[r] * y[c];
    }
  }
}

// The query tile a forward or dQ block takes at loop index blk: its (b, h) row bh, its first
// query i0, its batch row b, query head h and key head hk, and the end of the keys its queries
// see (kEnd: all Tk, or causally up to the last query's position).
struct FaQueryTile {
  int bh;
  int i0;
  int b;
  int h;
  int hk;
  int kEnd;
};

__device__ __forceinline__ FaQueryTile fa_query_tile(int blk, int tiles, int H, int Hkv, int Tq,
    int Tk, int causal, int qoff) {
  FaQueryTile t;
  t.bh = blk / tiles;
  t.i0 = blk % tiles * FA_BR;
  t.b = t.bh / H;
  t.h = t.bh % H;
  t.hk = t.h / (H / Hkv);
  t.kEnd = causal ? min(Tk, qoff + min(t.i0 + FA_BR, Tq)) : Tk;
  return t;
}

// Batch row b's key mask (Tk values), or null without one.
template <typename E>
__device__ __forceinline__ const E* fa_mask_row(int hasKeyMask, const E* keyMask, int b, int Tk) {
  return hasKeyMask ? keyMask + (long long) b * Tk : nullptr;
}

// dst[(r0 + ty + 16 r) ld + d] = f[r] acc[r][c] for rows below n and dims d below D, d the dim
// of acc's column c (fa_accumulate's layout).
template <typename E, int RA>
__device__ __forceinline__ void fa_store(E* dst, const E (&acc)[RA][2 * FA_CH],
    const E (&f)[RA], int r0, int n, int ld, int D, int ty, int tx) {
#pragma unroll
  for (int r = 0; r < RA; r++) {
    const int row = r0 + ty + 16 * r;
    if (row < n) {
#pragma unroll
      for (int c = 0; c < 2 * FA_CH; c++) {
        const int d = c / 2 * FA_DC + tx + 16 * (c % 2);
        if (d < D) dst[(long long) row * ld + d] = f[r] * acc[r][c];
      }
    }
  }
}

// The backward's two products of a tile pair, over the head dims chunk by chunk: s = A Bᵀ and
// dp = C Eᵀ, where A and C are RA rows from ra0 of (na, D) matrices staged through sa, and B and
// E RB rows from rb0 of (nb, D) matrices staged through sb (dQ: Q Kᵀ and G Vᵀ; dK, dV: K Qᵀ and
// V Gᵀ); la, lc, lb, le their rows' strides. Every thread of the block must call it.
template <int RA, int RB, typename E, int MA, int MB>
__device__ __forceinline__ void fa_two_products(E (&s)[MA][MB], E (&dp)[MA][MB],
    E (*sa)[FA_DC + 1], E (*sb)[FA_DC + 1], const E* a, int la, const E* c, int lc, int na,
    int ra0, const E* b, int lb, const E* e, int le, int nb, int rb0, int D, int ty, int tx) {
  for (int d0 = 0; d0 < D; d0 += FA_DC) {
    fa_load<E, RA>(sa, a, na, la, D, ra0, d0);
    fa_load<E, RB>(sb, b, nb, lb, D, rb0, d0);
    __syncthreads();
    fa_dots(s, sa, sb, ty, tx);
    __syncthreads();
    fa_load<E, RA>(sa, c, na, lc, D, ra0, d0);
    fa_load<E, RB>(sb, e, nb, le, D, rb0, d0);
    __syncthreads();
    fa_dots(dp, sa, sb, ty, tx);
    __syncthreads();
  }
}

// acc[r][2 ch + c] += sum over m < 32, in order, of w[ty + 16 r][m] x[m][tx + 16 c]: a tile
// product into the two dims of chunk ch this thread owns. Called from fully unrolled loops over
// ch, so that acc stays in registers.
template <typename E, int RA, int W>
__device__ __forceinline__ void fa_accumulate(E (&acc)[RA][2 * FA_CH], int ch, E (*w)[W],
    E (*x)[FA_DC + 1], int ty, int tx) {
#pragma unroll 4
  for (int m = 0; m < 32; m++) {
    E x0 = x[m][tx];
    E x1 = x[m][tx + 16];
#pragma unroll
    for (int r = 0; r < RA; r++) {
      E wv = w[ty + 16 * r][m];
      acc[r][2 * ch] += wv * x0;
      acc[r][2 * ch + 1] += wv * x1;
    }
  }
}

// acc[r][2 ch + c] += sum over m < 32, in order, of w[ty + 16 r][m] src[r0 + m][32 ch + tx + 16 c]
// for every chunk ch of the head dims: a tile of weights (32 columns) times 32 rows of an (n, D)
// matrix with rows ld apart, staged through sh chunk by chunk (out += P V, dq += dS K,
// dv += Pᵀ G, dk += dSᵀ Q). Every thread of the block must call it; its first barrier also
// orders the writes of w.
template <typename E, int RA, int W>
__device__ __forceinline__ void fa_product(E (&acc)[RA][2 * FA_CH], E (*w)[W],
    E (*sh)[FA_DC + 1], const E* src, int n, int ld, int r0, int D, int ty, int tx) {
#pragma unroll
  for (int ch = 0; ch < FA_CH; ch++) {
    if (ch * FA_DC < D) {
      fa_load<E, 32>(sh, src, n, ld, D, r0, ch * FA_DC);
      __syncthreads();
      fa_accumulate(acc, ch, w, sh, ty, tx);
      __syncthreads();
    }
  }
}

// ------------------------------------------------------------------ sampling on the device
// sample_rows (sdpo_kernels_typed.cuh) draws as Backend.sampleRows says: the token where u falls
// in the cumulative mass of the row's probabilities ordered by decreasing p, equal p by
// increasing token id. It does not sort: a search over the values of p finds the first token, in
// that order, at which a cumulative weight passes a target. A token's key is p's bits read as an
// integer (p >= 0, so integers order as the values do), and the weights are integers -- its mass
// in units of 2^-62 (truncated), or 1 to count tokens -- so a block's sums are exact, and the
// order in which its threads add them cannot change a draw.
#define SAMPLE_WAYS 8                      // a pass of the search splits its range in this many
#define SAMPLE_FIXED 4611686018427387904.0 // 2^62: a mass of 1 in fixed point
#define SAMPLE_MASS 0                      // weigh tokens by their fixed-point mass
#define SAMPLE_COUNT 1                     // count them
#define SAMPLE_TIE 2                       // count the tokens of one key, by id

// Calls f(c, p[c]) for each of this thread's tokens c (threadIdx.x + k blockDim.x, in order),
// with SAMPLE_ILP loads in flight before the first call: a row is read from L2 by one block.
#define SAMPLE_ILP 4
template <typename F>
__device__ __forceinline__ void sample_each(const double* p, int V, F f) {
  for (int c0 = threadIdx.x; c0 < V; c0 += SAMPLE_ILP * blockDim.x) {
    double v[SAMPLE_ILP];
#pragma unroll
    for (int q = 0; q < SAMPLE_ILP; q++) {
      const int c = c0 + q * blockDim.x;
      v[q] = c < V ? p[c] : 0.0;
    }
#pragma unroll
    for (int q = 0; q < SAMPLE_ILP; q++) {
      const int c = c0 + q * blockDim.x;
      if (c < V) f(c, v[q]);
    }
  }
}

// A probability (in [0, 1]) in units of 2^-62, truncated: a row's masses add up to at most
// 2^62 + V, so every sum fits.
__device__ __forceinline__ unsigned long long sample_mass(double p) {
  return (unsigned long long) (p * SAMPLE_FIXED);
}

// Each thread's N values summed over the block, to every thread: a warp's lanes by shuffles,
// then the warps' sums by each thread (integers: exact in any order). sh: THREADS / 32 * N.
template <int N>
__device__ __forceinline__ void block_totals(unsigned long long (&v)[N], unsigned long long* sh) {
  const int lane = threadIdx.x % 32;
  const int warp = threadIdx.x / 32;
#pragma unroll
  for (int j = 0; j < N; j++) {
    for (int o = 16; o > 0; o >>= 1) v[j] += __shfl_down_sync(0xffffffffu, v[j], o);
    if (lane == 0) sh[warp * N + j] = v[j];
  }
  __syncthreads();
#pragma unroll
  for (int j = 0; j < N; j++) {
    unsigned long long t = 0;
    for (int w = 0; w < THREADS / 32; w++) t += sh[w * N + j];
    v[j] = t;
  }
  __syncthreads();
}

// The smallest and largest of each thread's first and last, to every thread. sh: THREADS / 16.
template <typename I>
__device__ __forceinline__ void block_span(I& first, I& last, I* sh) {
  const int lane = threadIdx.x % 32;
  const int warp = threadIdx.x / 32;
  for (int o = 16; o > 0; o >>= 1) {
    first = min(first, __shfl_down_sync(0xffffffffu, first, o));
    last = max(last, __shfl_down_sync(0xffffffffu, last, o));
  }
  if (lane == 0) {
    sh[2 * warp] = first;
    sh[2 * warp + 1] = last;
  }
  __syncthreads();
  first = sh[0];
  last = sh[1];
  for (int w = 1; w < THREADS / 32; w++) {
    first = min(first, sh[2 * w]);
    last = max(last, sh[2 * w + 1]);
  }
  __syncthreads();
}

// One pass's narrowing (sample_search, topk_search): of the thresholds lo + (j + 1) step whose
// weight w[j] is above target the largest becomes lo, the first one not above it less 1 becomes
// hi; then [lo, hi] shrinks to the smallest and largest x the pass met in it (F is flat between
// them: no x in [lo, first) or (last, hi], so F(first) = F(lo) > target).
template <typename I>
__device__ __forceinline__ void search_narrow(const unsigned long long (&w)[SAMPLE_WAYS - 1],
    unsigned long long target, I step, I first, I last, I& lo, I& hi) {
  I nlo = lo;
  I nhi = hi;
#pragma unroll
  for (int j = 0; j < SAMPLE_WAYS - 1; j++) {
    const I t = lo + (j + 1) * step;
    if (t > nhi) break;
    if (w[j] > target) {
      nlo = t;
    } else {
      nhi = t - 1;
    }
  }
  lo = max(nlo, first);
  hi = min(nhi, last);
}

// The largest t in [lo, hi] at which F(t) > target, given F(lo) > target. F is non-increasing:
// SAMPLE_MASS, the mass of the tokens whose key is at least t; SAMPLE_COUNT, their number;
// SAMPLE_TIE, the number of tokens of key `tie` whose id is at most V - 1 - t. The answer is a
// token's x (its key, or V - 1 - its id), since F steps only there. A pass weighs
// SAMPLE_WAYS - 1 thresholds evenly spaced in [lo, hi] and keeps the part the answer is in, then
// narrows that to the tokens' x found in [lo, hi] (F is flat between them): SAMPLE_WAYS-fold a
// pass at least, and done when one x is left. Every thread takes the same steps.
template <int MODE>
__device__ long long sample_search(const double* p, int V, long long tie, long long lo,
    long long hi, unsigned long long target, unsigned long long* sh) {
  while (lo < hi) {
    const long long step = (hi - lo + SAMPLE_WAYS - 1) / SAMPLE_WAYS; // >= 1, and lo + step <= hi
    unsigned long long w[SAMPLE_WAYS - 1];
#pragma unroll
    for (int j = 0; j < SAMPLE_WAYS - 1; j++) w[j] = 0;
    long long first = hi; // the smallest and largest x in [lo, hi]
    long long last = lo;
    sample_each(p, V, [&](int c, double pc) {
      const long long key = __double_as_longlong(pc);
      if (MODE == SAMPLE_TIE && key != tie) return;
      const long long x = MODE == SAMPLE_TIE ? (long long) (V - 1 - c) : key;
      const unsigned long long add = MODE == SAMPLE_MASS ? sample_mass(pc) : 1ull;
      if (x >= lo && x <= hi) {
        first = min(first, x);
        last = max(last, x);
      }
#pragma unroll
      for (int j = 0; j < SAMPLE_WAYS - 1; j++) {
        if (x >= lo + (j + 1) * step) w[j] += add;
      }
    });
    block_totals(w, sh);
    block_span(first, last, (long long*) sh);
    search_narrow(w, target, step, first, last, lo, hi);
  }
  return lo;
}

// A token the search found: its id and key, and the mass and count of the tokens before it.
struct SamplePick {
  int token;
  long long key;
  unsigned long long massBefore;
  unsigned long long countBefore;
};

// The first token, in the sampler's order, at which the cumulative weight (SAMPLE_MASS or
// SAMPLE_COUNT) exceeds target; the caller makes sure the row's total does. top: the largest key.
// First the key (sample_search over the values), then, among the tokens of that key (which all
// weigh the same), the one the target falls in: the only one (their ids' sum is its id), or the
// j-th by id (a search over the ids).
template <int MODE>
__device__ SamplePick sample_pick(const double* p, int V, long long top,
    unsigned long long target, unsigned long long* sh) {
  const long long v = sample_search<MODE>(p, V, 0, 0, top, target, sh);
  unsigned long long t[4] = {0, 0, 0, 0}; // mass and count above v; count and id sum at v
  sample_each(p, V, [&](int c, double pc) {
    const long long key = __double_as_longlong(pc);
    if (key > v) {
      t[0] += sample_mass(pc);
      t[1] += 1;
    } else if (key == v) {
      t[2] += 1;
      t[3] += (unsigned long long) c;
    }
  });
  block_totals(t, sh);
  const unsigned long long each = MODE == SAMPLE_MASS ? sample_mass(__longlong_as_double(v)) : 1ull;
  const unsigned long long j = (target - (MODE == SAMPLE_MASS ? t[0] : t[1])) / each;
  SamplePick r;
  r.key = v;
  r.token = t[2] == 1 ? (int) t[3]
                      : V - 1 - (int) sample_search<SAMPLE_TIE>(p, V, v, 0, V - 1, j, sh);
  r.massBefore = t[0] + j * sample_mass(__longlong_as_double(v));
  r.countBefore = t[1] + j;
  return r;
}

// top_k (sdpo_kernels_typed.cuh) ranks as Backend.topK says: largest first, equal values by
// increasing column, in the order of Java's Double.compare. Like sample_rows it does not sort a
// row: a value's key is an integer whose order is that order (the bits, the lower 63 flipped for
// negative numbers, NaNs made one NaN, then the sign bit flipped so that unsigned integers order
// as the values do), and a search over the keys finds the K-th largest.
#define TOPK_MAX 1024                          // the largest K (CudaBackend.TOPK_MAX)
#define TOPK_KEY_MAX 0xfff8000000000000ull     // the NaN's key, the largest

__device__ __forceinline__ unsigned long long topk_key(double v) {
  const long long b = v != v ? 0x7ff8000000000000ll : __double_as_longlong(v);
  return (unsigned long long) (b ^ ((b >> 63) & 0x7fffffffffffffffll)) ^ 0x8000000000000000ull;
}

// The largest s in [lo, hi] at which F(s) > target, given F(lo) > target (the search of
// sample_search, over keys): F(s) is the number of the row's entries whose key is at least s, or
// (TIE) the number of entries of key `tie` whose column c has V - 1 - c at least s.
template <typename T, bool TIE>
__device__ unsigned long long topk_search(const T* z, int V, unsigned long long tie,
    unsigned long long lo, unsigned long long hi, unsigned long long target,
    unsigned long long* sh) {
  while (lo < hi) {
    const unsigned long long step = (hi - lo) / SAMPLE_WAYS + 1; // lo + step <= hi
    unsigned long long w[SAMPLE_WAYS - 1];
#pragma unroll
    for (int j = 0; j < SAMPLE_WAYS - 1; j++) w[j] = 0;
    unsigned long long first = hi; // the smallest and largest x in [lo, hi]
    unsigned long long last = lo;
    for (int c = threadIdx.x; c < V; c += blockDim.x) {
      const unsigned long long key = topk_key((double) z[c]);
      if (TIE && key != tie) continue;
      const unsigned long long x = TIE ? (unsigned long long) (V - 1 - c) : key;
      if (x >= lo && x <= hi) {
        first = min(first, x);
        last = max(last, x);
      }
#pragma unroll
      for (int j = 0; j < SAMPLE_WAYS - 1; j++) {
        const unsigned long long t = lo + (j + 1) * step;
        if (x >= t) w[j] += 1;
      }
    }
    block_totals(w, sh);
    block_span(first, last, sh);
    search_narrow(w, target, step, first, last, lo, hi);
  }
  return lo;
}

// The first largest of each thread's (m, at), to every thread: NaNs are never the largest, equal
// values go to the smaller id, and at stays V where every value is -infinity or NaN.
__device__ void block_argmax(double& m, int& at, double* sh, int* shi) {
  sh[threadIdx.x] = m;
  shi[threadIdx.x] = at;
  __syncthreads();
  for (int s = THREADS / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) {
      const double o = sh[threadIdx.x + s];
      const int oa = shi[threadIdx.x + s];
      if (o > sh[threadIdx.x] || (o == sh[threadIdx.x] && oa < shi[threadIdx.x])) {
        sh[threadIdx.x] = o;
        shi[threadIdx.x] = oa;
      }
    }
    __syncthreads();
  }
  m = sh[0];
  at = shi[0];
  __syncthreads();
}

#define T float
#define SFX(name) name##_f32
#include "sdpo_kernels_typed.cuh"
#undef T
#undef SFX

#define T double
#define SFX(name) name##_f64
#include "sdpo_kernels_typed.cuh"
#undef T
#undef SFX

// ------------------------------------------------------------ flash attention on tensor cores
// The bf16 precision mode's flash attention (CudaBackend uses it for float32 tensors with head
// sizes that are multiples of 16 up to TC_DMAX on compute capability 8.0 and newer): the same
// parameters and results as flash_forward_f32 and its backward, with every product on the tensor
// cores through WMMA (bf16 operands, float accumulation), as the bf16 mode's cuBLAS products of
// the probabilities' path are. Q, K, V, G are rounded to bf16 as they are staged in shared
// memory, P and dS as they are written there; the softmax and its statistics are in float.
//
// A block is TC_THREADS = 4 warps; warp w owns 16 rows (queries in the forward and dQ kernels,
// keys in the dK, dV kernel) of the block's tile, and its products are 16 x 16 x 16 fragments.
// With a WMMA fragment's elements in an order the API does not specify, a row's softmax cannot
// rescale an accumulator, so the forward takes two passes over the keys: the first finds each
// row's max and sum (lse), the second adds exp(s - lse) V, already normalised. No atomics: the
// dQ kernel walks keys, the dK, dV kernel queries, each recomputing P.
#include <mma.h>

#define TC_THREADS 128
#define TC_BR 64        // queries a forward or dQ block takes; keys a dK, dV block takes
#define TC_BC 32        // keys (forward, dQ) or queries (dK, dV) of one step
#define TC_DMAX 64      // CudaBackend.TC_FLASH_MAX_HEAD
#define TC_DP (TC_DMAX + 8)  // bf16 row stride of staged Q, K, V, G (a multiple of 8)
#define TC_SP (TC_BC + 4)    // float row stride of a warp's scores (a multiple of 4)
#define TC_PP (TC_BC + 8)    // bf16 row stride of P and dS (a multiple of 8)

// WMMA's bf16 fragments need compute capability 8.0; the sm_75 build gets empty kernels, which
// the host never launches there.
#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 800
#define TC_AVAILABLE 1
#else
#define TC_AVAILABLE 0
#endif

#if TC_AVAILABLE
namespace wmma = nvcuda::wmma;
typedef wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> TcA;
typedef wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::row_major> TcBRow;
typedef wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::col_major> TcBCol;
typedef wmma::fragment<wmma::accumulator, 16, 16, 16, float> TcAcc;

// sh[r][c] = bf16(src[(r0 + r) ld + c]) for r < R, c < D; 0 for rows outside [0, n). Four
// elements a thread at a time: one 16-byte load (D is a multiple of 16, src 16-byte aligned and
// ld a multiple of 4, so every row is), two 4-byte stores.
template <int R>
__device__ __forceinline__ void tc_load(__nv_bfloat16 (*sh)[TC_DP], const float* src, int n,
    int ld, int D, int r0) {
  const int quads = D >> 2;
  for (int e = threadIdx.x; e < R * quads; e += blockDim.x) {
    const int r = e / quads;
    const int c = (e - r * quads) << 2;
    float4 x = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    if (r0 + r < n) x = *reinterpret_cast<const float4*>(src + (long long) (r0 + r) * ld + c);
    __nv_bfloat162* to = reinterpret_cast<__nv_bfloat162*>(&sh[r][c]);
    to[0] = __floats2bfloat162_rn(x.x, x.y);
    to[1] = __floats2bfloat162_rn(x.z, x.w);
  }
}

// sh[r] = src[base + r0 + r] for r < R, fill outside [0, n).
template <int R>
__device__ __forceinline__ void tc_load_row(float* sh, const float* src, long long base, int n,
    int r0, float fill) {
  for (int r = threadIdx.x; r < R; r += blockDim.x) {
    sh[r] = r0 + r < n ? src[base + r0 + r] : fill;
  }
}

// s = A Bᵀ for a warp: A its 16 rows of a (rows, TC_DP) tile, B the TC_BC rows of another, over
// D dims; then s is stored to the warp's 16 rows of the float scores sf.
__device__ __forceinline__ void tc_scores(float (*sf)[TC_SP], const __nv_bfloat16 (*a)[TC_DP],
    const __nv_bfloat16 (*b)[TC_DP], int D) {
  TcAcc s[TC_BC / 16];
#pragma unroll
  for (int c = 0; c < TC_BC / 16; c++) wmma::fill_fragment(s[c], 0.0f);
  for (int kk = 0; kk < D; kk += 16) {
    TcA fa;
    wmma::load_matrix_sync(fa, &a[0][kk], TC_DP);
#pragma unroll
    for (int c = 0; c < TC_BC / 16; c++) {
      TcBCol fb;
      wmma::load_matrix_sync(fb, &b[16 * c][kk], TC_DP);
      wmma::mma_sync(s[c], fa, fb, s[c]);
    }
  }
#pragma unroll
  for (int c = 0; c < TC_BC / 16; c++) {
    wmma::store_matrix_sync(&sf[0][16 * c], s[c], TC_SP, wmma::mem_row_major);
  }
}

// acc[nc] += W X for a warp: W its 16 rows of a (rows, TC_PP) bf16 tile of weights (TC_BC
// columns), X the TC_BC rows of a (rows, TC_DP) tile, for each 16 dims nc below D.
__device__ __forceinline__ void tc_product(TcAcc (&acc)[TC_DMAX / 16],
    const __nv_bfloat16 (*w)[TC_PP], const __nv_bfloat16 (*x)[TC_DP], int D) {
#pragma unroll
  for (int kk = 0; kk < TC_BC; kk += 16) {
    TcA fa;
    wmma::load_matrix_sync(fa, &w[0][kk], TC_PP);
#pragma unroll
    for (int nc = 0; nc < TC_DMAX / 16; nc++) {
      if (16 * nc < D) {
        TcBRow fb;
        wmma::load_matrix_sync(fb, &x[kk][16 * nc], TC_DP);
        wmma::mma_sync(acc[nc], fa, fb, acc[nc]);
      }
    }
  }
}

// dst[(row0 + r) ld + 16 nc + c] = f acc[nc][r][c] for the warp's 16 rows below n, through the
// warp's rows of scratch.
__device__ __forceinline__ void tc_store(float* dst, TcAcc (&acc)[TC_DMAX / 16],
    float (*scratch)[TC_SP], int row0, int n, int ld, int D, float f) {
  const int lane = threadIdx.x & 31;
#pragma unroll
  for (int nc = 0; nc < TC_DMAX / 16; nc++) {
    if (16 * nc < D) {
      wmma::store_matrix_sync(&scratch[0][0], acc[nc], TC_SP, wmma::mem_row_major);
      __syncwarp();
      for (int e = lane; e < 256; e += 32) {
        const int r = e >> 4;
        const int c = e & 15;
        if (row0 + r < n) dst[(long long) (row0 + r) * ld + 16 * nc + c] = f * scratch[r][c];
      }
      __syncwarp();
    }
  }
}

// A thread's place in a tensor-core flash block: its warp, which owns the tile's rows 16 warp to
// 16 warp + 15, and the row (two lanes a row) and half (which 16 of a step's TC_BC columns) it
// reads of the warp's scores.
struct TcLane {
  int warp;
  int half;
  int row;
};

__device__ __forceinline__ TcLane tc_lane() {
  TcLane l;
  l.warp = threadIdx.x >> 5;
  l.half = threadIdx.x & 1;
  l.row = 16 * l.warp + ((threadIdx.x & 31) >> 1);
  return l;
}

// the query tiles of the tensor-core kernels are the CUDA-core kernels' (fa_query_tile)
static_assert(TC_BR == FA_BR, "fa_query_tile's tile is the tensor-core kernels' too");

__device__ __forceinline__ void tc_zero(TcAcc (&acc)[TC_DMAX / 16]) {
#pragma unroll
  for (int nc = 0; nc < TC_DMAX / 16; nc++) wmma::fill_fragment(acc[nc], 0.0f);
}
#endif

// out, lse (as flash_forward_f32): a block per TC_BR queries of one (b, h), two passes over the
// keys the tile sees, TC_BC at a time. Pass 1: per query row (two lanes, 16 keys each) the
// online max m and sum l of e^(s - m), s = scale q·k; lse = m + log l (-inf for a query that
// sees no key). Pass 2: out += exp(s - lse) V, P in bf16. Five blocks a multiprocessor: ptxas
// gives it 96 registers (no spills) instead of the 126 it takes unbounded since the strides
// came in (94 before them), which fit only four.
extern "C" __global__ void __launch_bounds__(TC_THREADS, 5) flash_tc_forward_f32(int B, int H, int Hkv, int Tq, int Tk, int D,
    int causal, int qoff, double scale, int hasKeyMask, const float* keyMask, FaHeads hs,
    const float* q, const float* k, const float* v, float* lse, float* out) {
#if TC_AVAILABLE
  __shared__ __align__(32) __nv_bfloat16 qs[TC_BR][TC_DP];
  __shared__ __align__(32) __nv_bfloat16 ks[TC_BC][TC_DP];
  __shared__ __align__(32) __nv_bfloat16 vs[TC_BC][TC_DP];
  __shared__ __align__(32) float sf[TC_BR][TC_SP];
  __shared__ __align__(32) __nv_bfloat16 pb[TC_BR][TC_PP];
  const TcLane ln = tc_lane();
  const int warp = ln.warp;
  const int half = ln.half;
  const int row = ln.row;
  const float sc = (float) scale;
  const int tiles = (Tq + TC_BR - 1) / TC_BR;
  for (int blk = blockIdx.x; blk < B * H * tiles; blk += gridDim.x) {
    const FaQueryTile t = fa_query_tile(blk, tiles, H, Hkv, Tq, Tk, causal, qoff);
    const int bh = t.bh;
    const int i0 = t.i0;
    const float* kh = k + fa_head(hs, FA_K, t.b, t.hk);
    const float* vh = v + fa_head(hs, FA_V, t.b, t.hk);
    const float* mrow = fa_mask_row(hasKeyMask, keyMask, t.b, Tk);
    const int i = i0 + row;
    __syncthreads(); // the previous tile is done with qs
    tc_load<TC_BR>(qs, q + fa_head(hs, FA_Q, t.b, t.h), Tq, hs.s[FA_Q][2], D, i0);
    float m = -INFINITY;
    float l = 0.0f;
    for (int j0 = 0; j0 < t.kEnd; j0 += TC_BC) { // pass 1: the row statistics
      __syncthreads();
      tc_load<TC_BC>(ks, kh, Tk, hs.s[FA_K][2], D, j0);
      __syncthreads();
      tc_scores(&sf[16 * warp], &qs[16 * warp], ks, D);
      __syncwarp();
      float x[16];
      float mx = -INFINITY;
#pragma unroll
      for (int c = 0; c < 16; c++) {
        const int j = j0 + 16 * half + c;
        x[c] = fa_sees(i, j, Tq, Tk, causal, qoff, mrow) ? sc * sf[row][16 * half + c] : -INFINITY;
        mx = x[c] > mx ? x[c] : mx;
      }
      const float other = __shfl_xor_sync(0xffffffffu, mx, 1);
      mx = other > mx ? other : mx;
      const float mNew = mx > m ? mx : m;
      float sum = 0.0f;
#pragma unroll
      for (int c = 0; c < 16; c++) sum += x[c] == -INFINITY ? 0.0f : fa_exp(x[c] - mNew);
      sum += __shfl_xor_sync(0xffffffffu, sum, 1);
      l = (m == -INFINITY ? 0.0f : l * fa_exp(m - mNew)) + sum;
      m = mNew;
    }
    const float rowLse = l > 0.0f ? m + fa_log(l) : -INFINITY;
    if (half == 0 && i < Tq) lse[(long long) bh * Tq + i] = rowLse;
    TcAcc o[TC_DMAX / 16];
    tc_zero(o);
    for (int j0 = 0; j0 < t.kEnd; j0 += TC_BC) { // pass 2: out = P V
      __syncthreads();
      tc_load<TC_BC>(ks, kh, Tk, hs.s[FA_K][2], D, j0);
      tc_load<TC_BC>(vs, vh, Tk, hs.s[FA_V][2], D, j0);
      __syncthreads();
      tc_scores(&sf[16 * warp], &qs[16 * warp], ks, D);
      __syncwarp();
#pragma unroll
      for (int c = 0; c < 16; c++) {
        const int j = j0 + 16 * half + c;
        const bool seen = rowLse != -INFINITY && fa_sees(i, j, Tq, Tk, causal, qoff, mrow);
        pb[row][16 * half + c] = __float2bfloat16_rn(
            seen ? fa_exp(sc * sf[row][16 * half + c] - rowLse) : 0.0f);
      }
      __syncwarp();
      tc_product(o, &pb[16 * warp], vs, D);
    }
    tc_store(out + fa_head(hs, FA_O, t.b, t.h), o, &sf[16 * warp], i0 + 16 * warp, Tq,
        hs.s[FA_O][2], D, 1.0f);
  }
#endif
}

// dq (as flash_backward_dq_f32): a block per TC_BR queries of one (b, h), walking the keys it
// sees TC_BC at a time: P = exp(scale Q Kᵀ - lse), dS = P ∘ (G Vᵀ - delta), dq += scale dS K.
extern "C" __global__ void flash_tc_backward_dq_f32(int B, int H, int Hkv, int Tq, int Tk, int D,
    int causal, int qoff, double scale, int hasKeyMask, const float* keyMask, FaHeads hs,
    const float* q, const float* k, const float* v, const float* g, const float* lse,
    const float* delta, float* dq) {
#if TC_AVAILABLE
  __shared__ __align__(32) __nv_bfloat16 qs[TC_BR][TC_DP];
  __shared__ __align__(32) __nv_bfloat16 gs[TC_BR][TC_DP];
  __shared__ __align__(32) __nv_bfloat16 ks[TC_BC][TC_DP];
  __shared__ __align__(32) __nv_bfloat16 vs[TC_BC][TC_DP];
  __shared__ __align__(32) float sf[TC_BR][TC_SP];
  __shared__ __align__(32) __nv_bfloat16 db[TC_BR][TC_PP];
  __shared__ float ls[TC_BR];
  __shared__ float dl[TC_BR];
  const TcLane ln = tc_lane();
  const int warp = ln.warp;
  const int half = ln.half;
  const int row = ln.row;
  const float sc = (float) scale;
  const int tiles = (Tq + TC_BR - 1) / TC_BR;
  for (int blk = blockIdx.x; blk < B * H * tiles; blk += gridDim.x) {
    const FaQueryTile t = fa_query_tile(blk, tiles, H, Hkv, Tq, Tk, causal, qoff);
    const int bh = t.bh;
    const int i0 = t.i0;
    const float* kh = k + fa_head(hs, FA_K, t.b, t.hk);
    const float* vh = v + fa_head(hs, FA_V, t.b, t.hk);
    const float* mrow = fa_mask_row(hasKeyMask, keyMask, t.b, Tk);
    const int i = i0 + row;
    __syncthreads();
    tc_load<TC_BR>(qs, q + fa_head(hs, FA_Q, t.b, t.h), Tq, hs.s[FA_Q][2], D, i0);
    tc_load<TC_BR>(gs, g + fa_head(hs, FA_G, t.b, t.h), Tq, hs.s[FA_G][2], D, i0);
    tc_load_row<TC_BR>(ls, lse, (long long) bh * Tq, Tq, i0, -INFINITY);
    tc_load_row<TC_BR>(dl, delta, (long long) bh * Tq, Tq, i0, 0.0f);
    TcAcc acc[TC_DMAX / 16];
    tc_zero(acc);
    for (int j0 = 0; j0 < t.kEnd; j0 += TC_BC) {
      __syncthreads();
      tc_load<TC_BC>(ks, kh, Tk, hs.s[FA_K][2], D, j0);
      tc_load<TC_BC>(vs, vh, Tk, hs.s[FA_V][2], D, j0);
      __syncthreads();
      const float rowLse = ls[row];
      const float rowDelta = dl[row];
      tc_scores(&sf[16 * warp], &qs[16 * warp], ks, D); // S = Q Kᵀ
      __syncwarp();
      float p[16];
#pragma unroll
      for (int c = 0; c < 16; c++) {
        const int j = j0 + 16 * half + c;
        const bool seen = rowLse != -INFINITY && fa_sees(i, j, Tq, Tk, causal, qoff, mrow);
        p[c] = seen ? fa_exp(sc * sf[row][16 * half + c] - rowLse) : 0.0f;
      }
      __syncwarp();
      tc_scores(&sf[16 * warp], &gs[16 * warp], vs, D); // dP = G Vᵀ
      __syncwarp();
#pragma unroll
      for (int c = 0; c < 16; c++) {
        db[row][16 * half + c] = __float2bfloat16_rn(p[c] * (sf[row][16 * half + c] - rowDelta));
      }
      __syncwarp();
      tc_product(acc, &db[16 * warp], ks, D); // dq += dS K
    }
    tc_store(dq + fa_head(hs, FA_DQ, t.b, t.h), acc, &sf[16 * warp], i0 + 16 * warp, Tq,
        hs.s[FA_DQ][2], D, sc);
  }
#endif
}

// dk, dv (as flash_backward_dkdv_f32): a block per TC_BR keys of one (b, key head), walking the
// group's query heads in order and, in each, the queries that see the keys TC_BC at a time: with
// Pᵀ = exp(scale K Qᵀ - lse) and dSᵀ = Pᵀ ∘ (V Gᵀ - delta), dv += Pᵀ G and dk += scale dSᵀ Q.
extern "C" __global__ void flash_tc_backward_dkdv_f32(int B, int H, int Hkv, int Tq, int Tk,
    int D, int causal, int qoff, double scale, int hasKeyMask, const float* keyMask, FaHeads hs,
    const float* q, const float* k, const float* v, const float* g, const float* lse,
    const float* delta, float* dk, float* dv) {
#if TC_AVAILABLE
  __shared__ __align__(32) __nv_bfloat16 ks[TC_BR][TC_DP];
  __shared__ __align__(32) __nv_bfloat16 vs[TC_BR][TC_DP];
  __shared__ __align__(32) __nv_bfloat16 qs[TC_BC][TC_DP];
  __shared__ __align__(32) __nv_bfloat16 gs[TC_BC][TC_DP];
  __shared__ __align__(32) float sf[TC_BR][TC_SP];
  __shared__ __align__(32) __nv_bfloat16 pb[TC_BR][TC_PP];
  __shared__ __align__(32) __nv_bfloat16 db[TC_BR][TC_PP];
  __shared__ float ls[TC_BC];
  __shared__ float dl[TC_BC];
  const TcLane ln = tc_lane();
  const int warp = ln.warp;
  const int half = ln.half;
  const int row = ln.row; // a key of the block's tile
  const float sc = (float) scale;
  const int rep = H / Hkv;
  const int tiles = (Tk + TC_BR - 1) / TC_BR;
  for (int blk = blockIdx.x; blk < B * Hkv * tiles; blk += gridDim.x) {
    const int bg = blk / tiles; // b * Hkv + key head
    const int j0 = blk % tiles * TC_BR;
    const int b = bg / Hkv;
    const int hk = bg % Hkv;
    const float* mrow = fa_mask_row(hasKeyMask, keyMask, b, Tk);
    const int j = j0 + row;
    __syncthreads();
    tc_load<TC_BR>(ks, k + fa_head(hs, FA_K, b, hk), Tk, hs.s[FA_K][2], D, j0);
    tc_load<TC_BR>(vs, v + fa_head(hs, FA_V, b, hk), Tk, hs.s[FA_V][2], D, j0);
    TcAcc ak[TC_DMAX / 16];
    TcAcc av[TC_DMAX / 16];
    tc_zero(ak);
    tc_zero(av);
    // the first query that can see key j0: i >= j0 - qoff when causal
    const int iStart = causal ? max(0, j0 - qoff) / TC_BC * TC_BC : 0;
    for (int h = hk * rep; h < (hk + 1) * rep; h++) {
      const long long bh = (long long) b * H + h;
      const float* qh = q + fa_head(hs, FA_Q, b, h);
      const float* gh = g + fa_head(hs, FA_G, b, h);
      for (int i0 = iStart; i0 < Tq; i0 += TC_BC) {
        __syncthreads();
        tc_load<TC_BC>(qs, qh, Tq, hs.s[FA_Q][2], D, i0);
        tc_load<TC_BC>(gs, gh, Tq, hs.s[FA_G][2], D, i0);
        tc_load_row<TC_BC>(ls, lse, bh * Tq, Tq, i0, -INFINITY);
        tc_load_row<TC_BC>(dl, delta, bh * Tq, Tq, i0, 0.0f);
        __syncthreads();
        tc_scores(&sf[16 * warp], &ks[16 * warp], qs, D); // Sᵀ = K Qᵀ
        __syncwarp();
        float p[16];
#pragma unroll
        for (int c = 0; c < 16; c++) {
          const int qi = 16 * half + c;
          const bool seen = ls[qi] != -INFINITY
              && fa_sees(i0 + qi, j, Tq, Tk, causal, qoff, mrow);
          p[c] = seen ? fa_exp(sc * sf[row][qi] - ls[qi]) : 0.0f;
          pb[row][qi] = __float2bfloat16_rn(p[c]);
        }
        __syncwarp();
        tc_scores(&sf[16 * warp], &vs[16 * warp], gs, D); // dPᵀ = V Gᵀ
        __syncwarp();
#pragma unroll
        for (int c = 0; c < 16; c++) {
          const int qi = 16 * half + c;
          db[row][qi] = __float2bfloat16_rn(p[c] * (sf[row][qi] - dl[qi]));
        }
        __syncwarp();
        tc_product(av, &pb[16 * warp], gs, D); // dv += Pᵀ G
        tc_product(ak, &db[16 * warp], qs, D); // dk += dSᵀ Q
      }
    }
    tc_store(dk + fa_head(hs, FA_DK, b, hk), ak, &sf[16 * warp], j0 + 16 * warp, Tk,
        hs.s[FA_DK][2], D, sc);
    tc_store(dv + fa_head(hs, FA_DV, b, hk), av, &sf[16 * warp], j0 + 16 * warp, Tk,
        hs.s[FA_DV][2], D, 1.0f);
  }
#endif
}
