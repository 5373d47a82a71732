package org.sdpo.tensor;

import java.nio.DoubleBuffer;
import java.nio.FloatBuffer;

/**
 * Element access to the contiguous, row-major memory of a tensor, for kernels written as plain
 * Java loops (layer norm, GELU, cross-entropy, gathers). Index 0 is the tensor's first element.
 * Two implementations on the CPU (float32 and float64), so the JIT keeps calls bimorphic and
 * inlined; the fake CUDA device (tests) adds a checked one over its memory.
 */
public abstract class Buf {
  public abstract double get(int i);

  public abstract void set(int i, double v);

  public abstract int size();

  /** Wraps a float32 NIO view of native memory. */
  public static Buf of(FloatBuffer b, int offset, int size) {
    return new F32(b, null, offset, size);
  }

  /**
   * Wraps a float32 NIO view of native memory, with the same memory as bytes in native order
   * (for vector loads and stores, {@link VectorKernels}).
   */
  static Buf of(FloatBuffer b, java.nio.ByteBuffer bytes, int offset, int size) {
    return new F32(b, bytes, offset, size);
  }

  /** Wraps a float64 NIO view of native memory. */
  public static Buf of(DoubleBuffer b, int offset, int size) {
    return new F64(b, offset, size);
  }

  static final class F32 extends Buf {
    private final FloatBuffer b;
    /** The same memory as bytes in native order, or null. */
    final java.nio.ByteBuffer bytes;
    /**
     * The same memory as a {@code java.lang.foreign.MemorySegment}, made on first use by the
     * vector kernels on JDK 20 and later (typed Object: JDK 17 cannot name it); a race makes it
     * twice, harmlessly.
     */
    Object segment;
    final int off;
    private final int size;

    F32(FloatBuffer b, java.nio.ByteBuffer bytes, int off, int size) {
      this.b = b;
      this.bytes = bytes;
      this.off = off;
      this.size = size;
    }

    @Override
    public double get(int i) {
      return b.get(off + i);
    }

    @Override
    public void set(int i, double v) {
      b.put(off + i, (float) v);
    }

    @Override
    public int size() {
      return size;
    }

    /** dst[0 .. n) = this[i .. i + n), in one copy. */
    void get(int i, float[] dst, int n) {
      b.get(off + i, dst, 0, n);
    }

    /** this[i .. i + n) = src[0 .. n), in one copy. */
    void put(int i, float[] src, int n) {
      b.put(off + i, src, 0, n);
    }
  }

  static final class F64 extends Buf {
    private final DoubleBuffer b;
    private final int off;
    private final int size;

    F64(DoubleBuffer b, int off, int size) {
      this.b = b;
      this.off = off;
      this.size = size;
    }

    @Override
    public double get(int i) {
      return b.get(off + i);
    }

    @Override
    public void set(int i, double v) {
      b.put(off + i, v);
    }

    @Override
    public int size() {
      return size;
    }
  }
}
