// Kernels that test the kernel emulator itself (KernelEmulatorTest): each breaks one rule the
// emulator checks, or exercises one built-in whose result is known, so that the emulator is seen
// to fail where it should. Compiled into the emulator only, never into the fatbin.

// out[t] = lane sums of a warp three ways: an xor butterfly (every lane 496), shuffles down then
// a broadcast of lane 0 (every lane 496), and lane (t + 1) % 32's id read with __shfl_sync.
extern "C" __global__ void emu_test_shuffles(int* out) {
  int lane = threadIdx.x % 32;
  int a = lane;
  for (int o = 16; o > 0; o >>= 1) a += __shfl_xor_sync(0xffffffffu, a, o);
  int b = lane;
  for (int o = 16; o > 0; o >>= 1) b += __shfl_down_sync(0xffffffffu, b, o);
  b = __shfl_sync(0xffffffffu, b, 0);
  int c = __shfl_sync(0xffffffffu, lane, (lane + 1) % 32);
  out[3 * (blockIdx.x * blockDim.x + threadIdx.x)] = a;
  out[3 * (blockIdx.x * blockDim.x + threadIdx.x) + 1] = b;
  out[3 * (blockIdx.x * blockDim.x + threadIdx.x) + 2] = c;
}

// out[t] = the next thread's id, through shared memory with a barrier between write and read.
extern "C" __global__ void emu_test_barrier(int* out) {
  __shared__ int s[1024];
  s[threadIdx.x] = (int) threadIdx.x;
  __syncthreads();
  out[blockIdx.x * blockDim.x + threadIdx.x] = s[(threadIdx.x + 1) % blockDim.x];
}

// The same without the barrier: a race, whose result depends on the order threads run in.
extern "C" __global__ void emu_test_race(int* out) {
  __shared__ int s[1024];
  s[threadIdx.x] = (int) threadIdx.x + 1000 * (int) blockIdx.x;
  out[blockIdx.x * blockDim.x + threadIdx.x] = s[(threadIdx.x + 1) % blockDim.x];
}

// Half the block waits at a barrier the other half never reaches.
extern "C" __global__ void emu_test_divergent_barrier(int* out) {
  if (threadIdx.x < blockDim.x / 2) __syncthreads();
  out[threadIdx.x] = 1;
}

// The two halves of the block wait at different barriers.
extern "C" __global__ void emu_test_two_barriers(int* out) {
  if (threadIdx.x % 2 == 0) {
    __syncthreads();
  } else {
    __syncthreads();
  }
  out[threadIdx.x] = 1;
}

// Half of each warp shuffles, the other half does not.
extern "C" __global__ void emu_test_half_warp_shuffle(int* out) {
  int v = (int) threadIdx.x;
  if (threadIdx.x % 32 < 16) v = __shfl_xor_sync(0xffffffffu, v, 1);
  out[threadIdx.x] = v;
}

// Writes one element past the end of out (n elements).
extern "C" __global__ void emu_test_overrun(int n, float* out) {
  if (threadIdx.x == 0 && blockIdx.x == 0) out[n] = 1.0f;
}

// Threads below 32 write shared memory, every thread reads its own element: the upper half reads
// what the block never wrote (NaN in the emulator, garbage on a GPU).
extern "C" __global__ void emu_test_unwritten_shared(float* out) {
  __shared__ float s[1024];
  if (threadIdx.x < 32) s[threadIdx.x] = 1.0f;
  __syncthreads();
  out[blockIdx.x * blockDim.x + threadIdx.x] = s[threadIdx.x];
}

// Lanes 0-15 of each warp wait at a shuffle, lanes 16-31 at a barrier: neither can complete.
extern "C" __global__ void emu_test_deadlock(int* out) {
  int v = (int) threadIdx.x;
  if (threadIdx.x % 32 < 16) {
    v = __shfl_xor_sync(0xffffffffu, v, 1);
  } else {
    __syncthreads();
  }
  out[threadIdx.x] = v;
}

// A WMMA load from a pointer 16 bytes past a 32-byte boundary (CUDA requires 32).
extern "C" __global__ void emu_test_wmma_misaligned(float* out) {
  __shared__ __align__(32) __nv_bfloat16 tile[16 * 24];
  for (int e = threadIdx.x; e < 16 * 24; e += blockDim.x) tile[e] = __float2bfloat16_rn(1.0f);
  __syncthreads();
  TcA a;
  wmma::load_matrix_sync(a, &tile[8], 16);
  out[threadIdx.x] = 0.0f;
}

// Each lane loads a WMMA fragment from a pointer of its own (CUDA requires the warp's to agree).
extern "C" __global__ void emu_test_wmma_divergent(float* out) {
  __shared__ __align__(32) __nv_bfloat16 tile[2 * 16 * 16];
  for (int e = threadIdx.x; e < 2 * 16 * 16; e += blockDim.x) tile[e] = __float2bfloat16_rn(1.0f);
  __syncthreads();
  TcA a;
  wmma::load_matrix_sync(a, &tile[threadIdx.x % 2 * 256], 16);
  out[threadIdx.x] = 0.0f;
}

// A 16 x 16 x 16 product, A[m][k] = m + 1 and B[k][n] = n + 1 (exact in bf16), onto an
// accumulator of ones loaded from shared memory: out[m][n] = 1 + 16 (m + 1) (n + 1), row-major.
extern "C" __global__ void emu_test_wmma_product(float* out) {
  __shared__ __align__(32) __nv_bfloat16 a16[16 * 16];
  __shared__ __align__(32) __nv_bfloat16 b16[16 * 16];
  __shared__ __align__(32) float c32[16 * 16];
  for (int e = threadIdx.x; e < 256; e += blockDim.x) {
    a16[e] = __float2bfloat16_rn((float) (e / 16 + 1));
    b16[e] = __float2bfloat16_rn((float) (e % 16 + 1));
    c32[e] = 1.0f;
  }
  __syncthreads();
  TcA a;
  TcBRow b;
  TcAcc c;
  wmma::load_matrix_sync(a, a16, 16);
  wmma::load_matrix_sync(b, b16, 16);
  wmma::load_matrix_sync(c, c32, 16, wmma::mem_row_major);
  wmma::mma_sync(c, a, b, c);
  wmma::store_matrix_sync(out, c, 16, wmma::mem_row_major);
}
