package org.sdpo.tensor.cuda;

import java.nio.ByteBuffer;

/**
 * What the CUDA backend needs from a device: memory, copies, kernel launches, a matrix multiply
 * with cuBLAS's calling conventions, and CUDA graphs. The one interface the binding hides behind:
 * {@link JnaDriver} binds the NVIDIA driver and cuBLAS; {@link FakeDevice} runs everything in host
 * memory with a Java twin of each kernel, so the backend's host side runs in CI without a GPU.
 * All work goes to one stream, in order.
 */
public interface CudaDriver extends AutoCloseable {

  /** cuBLAS data and compute types the backend uses. */
  enum GemmType {
    /** float32 in and out, float32 accumulation, TF32 off (CUBLAS_COMPUTE_32F). */
    F32,
    /** float32 in and out, TF32 tensor cores allowed (CUBLAS_COMPUTE_32F_FAST_TF32). */
    TF32,
    /**
     * bfloat16 A and B, float32 C and accumulation (CUDA_R_16BF in, CUDA_R_32F out,
     * CUBLAS_COMPUTE_32F): the bf16 precision mode.
     */
    BF16,
    /** float64 (CUBLAS_COMPUTE_64F). */
    F64
  }

  /** The device and driver, in words, for the start-up banner. */
  String description();

  /**
   * The device's compute capability as major * 10 + minor (90 for Hopper); the fake device
   * reports 90.
   */
  default int computeCapability() {
    return 90;
  }

  /** The device's memory in bytes, 0 where unknown (the fake device). */
  default long totalMemory() {
    return 0;
  }

  /**
   * Whether the backend should check its own bookkeeping as it goes (the cast cache's copies): on
   * the fake device, and on a GPU in debug mode ({@code SDPO_CUDA_DEBUG=1}).
   */
  default boolean checksLaunches() {
    return false;
  }

  /**
   * Device memory of {@code bytes} bytes (256-byte aligned). Throws
   * {@link org.sdpo.tensor.DeviceOutOfMemoryException} when the device has not that much free
   * (the memory pool then gives back what it can and tries again), and fails with a message on
   * any other error.
   */
  long alloc(long bytes);

  void free(long address);

  /**
   * Told when the backend's memory pool carves a block of {@code bytes} at {@code address} out of
   * an allocation: the fake device then checks every access against the block, not only the
   * allocation. Nothing to do on a real device.
   */
  default void carved(long address, long bytes) {}

  /** Copies {@code src}'s remaining bytes to the device (synchronous). */
  void toDevice(long dst, ByteBuffer src);

  /** Copies {@code dst.remaining()} bytes from the device into {@code dst} (synchronous). */
  void toHost(ByteBuffer dst, long src);

  void copy(long dst, long src, long bytes);

  void zero(long dst, long bytes);

  /** Launches a kernel of the module with a 1-D grid and block. */
  void launch(KernelArgs args, int grid, int block);

  /**
   * Column-major strided-batched matrix multiply, as {@code cublasGemmStridedBatchedEx}:
   * C_i = alpha op(A_i) op(B_i) + beta C_i for i &lt; batch, where op(A) is m x k, op(B) k x n,
   * C m x n with leading dimension ldc, and X_i starts strideX elements after X_{i-1}.
   */
  void gemm(GemmType type, boolean transA, boolean transB, int m, int n, int k, double alpha,
      long a, int lda, long strideA, long b, int ldb, long strideB, double beta, long c, int ldc,
      long strideC, int batch);

  /**
   * One column-major product with a bias, as {@code cublasLtMatmul} with the bias epilogue:
   * C = op(A) op(B) + bias, op(A) m x k, op(B) k x n, C m x n (leading dimension ldc), bias m
   * float32 values added to every column, so C is written once and never read. F32, TF32 and
   * BF16 only. Returns false, having done nothing, where the device has no such product (no
   * cuBLASLt, or no kernel for these shapes, types and alignments): the caller then multiplies
   * and adds the bias itself.
   */
  default boolean gemmBias(GemmType type, boolean transA, boolean transB, int m, int n, int k,
      long a, int lda, long b, int ldb, long bias, long c, int ldc) {
    return false;
  }

  /** Waits for all work; surfaces an asynchronous error with the launch it came from if known. */
  void synchronize();

  /** Starts recording the stream's work as a graph instead of running it. */
  void beginCapture();

  /** Ends the recording and returns the instantiated graph. */
  Graph endCapture();

  /** Runs a recorded graph: the same launches, with the same arguments and addresses. */
  void replay(Graph g);

  /** Frees a recorded graph; it cannot be replayed afterwards. */
  void destroy(Graph g);

  /** A recorded graph; its launches count is reported by benchmarks. */
  interface Graph {
    int launches();
  }

  /** The launches since start (a benchmark's "launches per step"). */
  long launches();

  @Override
  void close();
}
