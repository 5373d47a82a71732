package org.sdpo.tensor.cuda;

import java.nio.ByteBuffer;

/**
 * The kernels' {@code Dims}: an index space (a shape, row-major) and the strides in elements of
 * up to four operands over it, so one kernel reads broadcast and permuted views without copies.
 * Packed as the CUDA struct: int rank, int n, int shape[6], int stride[4][6], unsigned mul[6],
 * int shr[6]: mul and shr divide by shape[k] with a multiply and a shift ({@link #magic}), so
 * locating an element costs no hardware division.
 */
final class Dims {
  static final int MAX_RANK = 6;
  final int[] shape;
  final int[][] strides;
  /** The packed multipliers and shifts (set when read back from packed bytes), else null. */
  private long[] magics;

  Dims(int[] shape, int[]... strides) {
    if (shape.length > MAX_RANK) {
      throw new IllegalArgumentException("the CUDA backend handles tensors of rank <= " + MAX_RANK
          + ", not " + shape.length);
    }
    if (strides.length > 4) {
      throw new IllegalArgumentException("at most 4 operands");
    }
    this.shape = shape;
    this.strides = strides;
  }

  /**
   * The same index space with fewer axes: size-1 axes dropped, and neighbours merged where every
   * operand steps through them as through one axis (stride of the outer = stride of the inner x
   * its size). A contiguous tensor becomes one axis, so a kernel computes one division per
   * element instead of one per axis; the row-major order of elements is unchanged.
   */
  static Dims collapsed(int[] shape, int[]... strides) {
    int n = shape.length;
    int[] sh = new int[n];
    int[][] st = new int[strides.length][n];
    int r = 0;
    for (int k = 0; k < n; k++) {
      if (shape[k] == 1) {
        continue;
      }
      boolean merge = r > 0;
      for (int op = 0; op < strides.length && merge; op++) {
        merge = st[op][r - 1] == strides[op][k] * (long) shape[k];
      }
      if (merge) {
        sh[r - 1] *= shape[k];
        for (int op = 0; op < strides.length; op++) {
          st[op][r - 1] = strides[op][k];
        }
      } else {
        sh[r] = shape[k];
        for (int op = 0; op < strides.length; op++) {
          st[op][r] = strides[op][k];
        }
        r++;
      }
    }
    int[][] out = new int[strides.length][];
    for (int op = 0; op < strides.length; op++) {
      out[op] = java.util.Arrays.copyOf(st[op], r);
    }
    return new Dims(java.util.Arrays.copyOf(sh, r), out);
  }

  int numel() {
    int n = 1;
    for (int d : shape) {
      n *= d;
    }
    return n;
  }

  void pack(ByteBuffer b) {
    b.putInt(shape.length).putInt(numel());
    for (int k = 0; k < MAX_RANK; k++) {
      b.putInt(k < shape.length ? shape[k] : 1);
    }
    for (int op = 0; op < 4; op++) {
      for (int k = 0; k < MAX_RANK; k++) {
        b.putInt(op < strides.length && k < shape.length ? strides[op][k] : 0);
      }
    }
    long[] m = new long[MAX_RANK];
    for (int k = 0; k < MAX_RANK; k++) {
      m[k] = magic(k < shape.length ? shape[k] : 1);
      b.putInt((int) m[k]);
    }
    for (int k = 0; k < MAX_RANK; k++) {
      b.putInt((int) (m[k] >>> 32));
    }
  }

  /**
   * Division by d >= 1 as a multiply and a shift, for dividends 0 <= i < 2^31 (the method GPU
   * libraries use): with s = ceil(log2 d) and m = floor(2^32 (2^s - d) / d) + 1, i / d =
   * (mulhi(i, m) + i) >> s, where mulhi is the high 32 bits of the 64-bit product (the sum fits in
   * 32 bits unsigned). Returns m in the low 32 bits and s above them; d = 0 gives 0 (no element
   * is ever located then).
   */
  static long magic(int d) {
    if (d <= 0) {
      return 0;
    }
    int s = 32 - Integer.numberOfLeadingZeros(d - 1); // ceil(log2 d); 0 for d = 1
    long m = ((1L << 32) * ((1L << s) - d)) / d + 1;
    return (m & 0xffffffffL) | ((long) s << 32);
  }

  /** i / d through {@link #magic}'s multiplier and shift, as the kernels compute it. */
  static int divide(int i, long magic) {
    long m = magic & 0xffffffffL;
    int s = (int) (magic >>> 32);
    long hi = (i * m) >>> 32; // __umulhi(i, m)
    return (int) ((hi + i) >>> s);
  }

  /** The struct read back from packed bytes (the fake device's side). */
  static Dims unpack(ByteBuffer b, int at) {
    int rank = b.getInt(at);
    int[] shape = new int[rank];
    int[][] strides = new int[4][rank];
    long[] magics = new long[MAX_RANK];
    for (int k = 0; k < rank; k++) {
      shape[k] = b.getInt(at + 8 + 4 * k);
      for (int op = 0; op < 4; op++) {
        strides[op][k] = b.getInt(at + 8 + 4 * MAX_RANK + 4 * (op * MAX_RANK + k));
      }
      int mulAt = at + 8 + 4 * MAX_RANK * 5;
      magics[k] = (b.getInt(mulAt + 4 * k) & 0xffffffffL)
          | ((long) b.getInt(mulAt + 4 * MAX_RANK + 4 * k) << 32);
    }
    Dims d = new Dims(shape, strides);
    d.magics = magics;
    if (d.numel() != b.getInt(at + 4)) {
      throw new IllegalStateException("Dims: n " + b.getInt(at + 4) + " is not the product of "
          + java.util.Arrays.toString(shape));
    }
    return d;
  }

  /**
   * The offset of element i in each operand (the kernels' locate): dividing with the packed
   * multipliers and shifts where the struct was read back from bytes, as the kernels do.
   */
  void locate(int i, int[] off) {
    java.util.Arrays.fill(off, 0);
    for (int k = shape.length - 1; k >= 0; k--) {
      int q = magics != null ? divide(i, magics[k]) : i / shape[k];
      int c = i - q * shape[k];
      i = q;
      for (int op = 0; op < Math.min(off.length, strides.length); op++) {
        off[op] += c * strides[op][k];
      }
    }
  }
}
