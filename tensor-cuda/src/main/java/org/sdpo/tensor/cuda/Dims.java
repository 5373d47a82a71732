package org.sdpo.tensor.cuda;

import java.nio.ByteBuffer;

/**
 * The kernels' {@code Dims}: an index space (a shape, row-major) and the strides in elements of
 * up to four operands over it, so one kernel reads broadcast and permuted views without copies.
 * Packed as the CUDA struct: int rank, int n, int shape[6], int stride[4][6].
 */
final class Dims {
  static final int MAX_RANK = 6;
  final int[] shape;
  final int[][] strides;

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
  }

  /** The struct read back from packed bytes (the fake device's side). */
  static Dims unpack(ByteBuffer b, int at) {
    int rank = b.getInt(at);
    int[] shape = new int[rank];
    int[][] strides = new int[4][rank];
    for (int k = 0; k < rank; k++) {
      shape[k] = b.getInt(at + 8 + 4 * k);
      for (int op = 0; op < 4; op++) {
        strides[op][k] = b.getInt(at + 8 + 4 * MAX_RANK + 4 * (op * MAX_RANK + k));
      }
    }
    Dims d = new Dims(shape, strides);
    if (d.numel() != b.getInt(at + 4)) {
      throw new IllegalStateException("Dims: n " + b.getInt(at + 4) + " is not the product of "
          + java.util.Arrays.toString(shape));
    }
    return d;
  }

  /** The offset of element i in each operand (the kernels' locate). */
  void locate(int i, int[] off) {
    java.util.Arrays.fill(off, 0);
    for (int k = shape.length - 1; k >= 0; k--) {
      int c = i % shape[k];
      i /= shape[k];
      for (int op = 0; op < off.length; op++) {
        off[op] += c * strides[op][k];
      }
    }
  }
}
