package org.sdpo.tensor;

import java.util.concurrent.atomic.AtomicLong;

/**
 * Counters of native memory requests, to verify that a steady-state training step allocates
 * nothing new. {@link #arrays()} and {@link #bytes()} count every tensor buffer the backend
 * created (pool misses included, pool hits not); {@link #nativePointers()} is JavaCPP's count of
 * live native allocations, which also sees ND4J's own internal buffers.
 */
public final class MemoryStats {
  static final AtomicLong ARRAYS = new AtomicLong();
  static final AtomicLong BYTES = new AtomicLong();

  private MemoryStats() {}

  /** Tensor buffers allocated since start. */
  public static long arrays() {
    return ARRAYS.get();
  }

  /** Bytes of tensor buffers allocated since start. */
  public static long bytes() {
    return BYTES.get();
  }

  /** Native allocations currently alive according to JavaCPP (freed ones leave after GC). */
  public static long nativePointers() {
    return org.bytedeco.javacpp.Pointer.totalCount();
  }

  static void count(DType dtype, int[] shape) {
    ARRAYS.incrementAndGet();
    BYTES.addAndGet(Shape.numel(shape) * dtype.bytes());
  }
}
