package org.sdpo.tensor;

import java.util.concurrent.atomic.AtomicLong;

/**
 * Counters of native memory requests, to verify that a steady-state training step allocates
 * nothing new. {@link #arrays()} and {@link #bytes()} count every tensor buffer the backend
 * created (pool misses included, pool hits not); {@link #nativePointers()} is JavaCPP's count of
 * live native allocations, which also sees ND4J's own internal buffers.
 *
 * <p>ND4J's buffers live off the Java heap and JavaCPP does not count them (a 4 MB array adds
 * 120 bytes to its counter), so nothing makes the JVM collect the small Java objects that own
 * them: an allocating loop (sampling prompts of many lengths) can hold dead native memory while
 * the heap looks empty. Every {@link #collectEveryBytes()} bytes of new buffers we therefore ask
 * for a collection, which releases the dead ones (property {@code sdpo.collectEveryBytes},
 * default 1 GiB; 0 disables).
 */
public final class MemoryStats {
  static final AtomicLong ARRAYS = new AtomicLong();
  static final AtomicLong BYTES = new AtomicLong();
  static final AtomicLong SINCE_COLLECTION = new AtomicLong();
  static final AtomicLong COLLECTIONS = new AtomicLong();
  private static final long COLLECT_EVERY = Long.getLong("sdpo.collectEveryBytes", 1L << 30);

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

  /** Bytes of new buffers after which a collection is requested (0: never). */
  public static long collectEveryBytes() {
    return COLLECT_EVERY;
  }

  /** Collections requested so far because of new native buffers. */
  public static long collections() {
    return COLLECTIONS.get();
  }

  static void count(DType dtype, int[] shape) {
    long bytes = Shape.numel(shape) * dtype.bytes();
    ARRAYS.incrementAndGet();
    BYTES.addAndGet(bytes);
    if (COLLECT_EVERY > 0 && SINCE_COLLECTION.addAndGet(bytes) > COLLECT_EVERY) {
      SINCE_COLLECTION.set(0);
      COLLECTIONS.incrementAndGet();
      System.gc(); // frees the native buffers of unreachable tensors (ND4J's deallocator threads)
    }
  }
}
