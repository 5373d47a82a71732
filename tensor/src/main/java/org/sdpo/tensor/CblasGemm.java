package org.sdpo.tensor;

import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.openblas.global.openblas_nolapack;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * The CPU backend's matrix multiply straight through OpenBLAS's {@code cblas_sgemm} /
 * {@code cblas_dgemm} on ND4J's buffers: the same OpenBLAS library ND4J calls, one call per
 * matrix (a batch is a loop, as ND4J's own), without ND4J's per-call op machinery (argument
 * validation, shape buffers), which cost more than the arithmetic at the decode step's shapes
 * (16 x 128 by 128 x 384). Results are bit-identical to ND4J's {@code mmul} (tested).
 *
 * <p>An operand qualifies when its last two axes are row-major (unit column stride) or
 * column-major (a transposed view: unit row stride), with a leading dimension BLAS accepts; the
 * output must be row-major, and in float64 have more than one row and column (ND4J's float64
 * matrix-vector product is not dgemm's, and its sums differ; in float32 it is sgemm's). Anything
 * else returns false and goes through ND4J.
 */
final class CblasGemm {
  private CblasGemm() {}

  /**
   * OpenBLAS's thread count: ND4J sets it to its own (OMP_NUM_THREADS, else the cores), over
   * OPENBLAS_NUM_THREADS. Its products differ in the last bits between one thread and two
   * (OpenBLAS splits the work differently), so a run reproduces bit for bit only with the same
   * count; the banner shows it.
   */
  static int threads() {
    return org.bytedeco.openblas.presets.openblas_nolapack.blas_get_num_threads();
  }

  /**
   * {transposed, leading dimension} of x's last two axes as BLAS reads them, or null. A single
   * row or column reads either way whatever its other stride (ND4J gives vectors strides of 1).
   */
  private static int[] layout(INDArray x) {
    long[] st = x.stride();
    long[] sh = x.shape();
    int n = sh.length;
    long r = sh[n - 2];
    long c = sh[n - 1];
    if (c == 1 || st[n - 1] == 1) {
      long ld = r == 1 ? Math.max(1, c) : st[n - 2];
      if (ld >= Math.max(1, c)) {
        return new int[] {0, (int) ld};
      }
    }
    if (r == 1 || st[n - 2] == 1) {
      long ld = c == 1 ? Math.max(1, r) : st[n - 1];
      if (ld >= Math.max(1, r)) {
        return new int[] {1, (int) ld};
      }
    }
    return null;
  }

  /** Whether BLAS reads x's matrices (its last two axes) as they lie. */
  static boolean readable(INDArray x) {
    return layout(x) != null;
  }

  /** Whether BLAS writes x's matrices as they lie: row-major with a leading dimension. */
  static boolean writable(INDArray x) {
    int[] l = layout(x);
    return l != null && l[0] == 0;
  }

  /**
   * out = op(a) op(b), rank 2, 3 or 4 with equal batch sizes (as {@link Backend#matmul}; rank 4:
   * two batch axes, e.g. attention's (B, H), each operand with its own strides, so heads can be
   * read where a projection wrote them), all of one dtype; false (nothing done) where a layout
   * does not qualify. One call per matrix, in row-major order of the batch axes.
   */
  static boolean multiply(INDArray a, INDArray b, INDArray out, boolean transposeA,
      boolean transposeB) {
    int[] la = layout(a);
    int[] lb = layout(b);
    int[] lc = layout(out);
    if (la == null || lb == null || lc == null || lc[0] != 0
        || a.dataType() != out.dataType() || b.dataType() != out.dataType()) {
      return false;
    }
    long[] os = out.shape();
    int rank = os.length;
    int M = (int) os[rank - 2];
    int N = (int) os[rank - 1];
    if ((M == 1 || N == 1) && out.dataType() != org.nd4j.linalg.api.buffer.DataType.FLOAT) {
      return false; // ND4J's float64 matrix-vector product is not dgemm's: its sums differ
    }
    int K = (int) (transposeA ? a.shape()[rank - 2] : a.shape()[rank - 1]);
    int outer = rank == 4 ? (int) os[0] : 1; // rank 4: (outer, batch) matrices
    int batch = rank >= 3 ? (int) os[rank - 3] : 1;
    int opA = transposeA ^ la[0] == 1 ? openblas_nolapack.CblasTrans : openblas_nolapack.CblasNoTrans;
    int opB = transposeB ^ lb[0] == 1 ? openblas_nolapack.CblasTrans : openblas_nolapack.CblasNoTrans;
    long sa = rank >= 3 ? a.stride()[rank - 3] : 0;
    long sb = rank >= 3 ? b.stride()[rank - 3] : 0;
    long sc = rank >= 3 ? out.stride()[rank - 3] : 0;
    long ta = rank == 4 ? a.stride()[0] : 0;
    long tb = rank == 4 ? b.stride()[0] : 0;
    long tc = rank == 4 ? out.stride()[0] : 0;
    int row = openblas_nolapack.CblasRowMajor;
    // a view's data() is itself a view of the buffer, its address already at data().offset():
    // the operand starts offset() - data().offset() elements after it
    long oa = a.offset() - a.data().offset();
    long ob = b.offset() - b.data().offset();
    long oc = out.offset() - out.data().offset();
    // the pointers do not keep the arrays alive: they must stay reachable until the last
    // multiply returns (a collection during a native call could free them otherwise)
    try {
      if (out.dataType() == org.nd4j.linalg.api.buffer.DataType.FLOAT) {
        FloatPointer pa = new FloatPointer(a.data().addressPointer());
        FloatPointer pb = new FloatPointer(b.data().addressPointer());
        FloatPointer pc = new FloatPointer(out.data().addressPointer());
        for (int o = 0; o < outer; o++) {
          for (int i = 0; i < batch; i++) {
            openblas_nolapack.cblas_sgemm(row, opA, opB, M, N, K, 1f,
                pa.position(oa + o * ta + i * sa), la[1], pb.position(ob + o * tb + i * sb),
                lb[1], 0f, pc.position(oc + o * tc + i * sc), lc[1]);
          }
        }
      } else {
        DoublePointer pa = new DoublePointer(a.data().addressPointer());
        DoublePointer pb = new DoublePointer(b.data().addressPointer());
        DoublePointer pc = new DoublePointer(out.data().addressPointer());
        for (int o = 0; o < outer; o++) {
          for (int i = 0; i < batch; i++) {
            openblas_nolapack.cblas_dgemm(row, opA, opB, M, N, K, 1,
                pa.position(oa + o * ta + i * sa), la[1], pb.position(ob + o * tb + i * sb),
                lb[1], 0, pc.position(oc + o * tc + i * sc), lc[1]);
          }
        }
      }
    } finally {
      java.lang.ref.Reference.reachabilityFence(a);
      java.lang.ref.Reference.reachabilityFence(b);
      java.lang.ref.Reference.reachabilityFence(out);
    }
    return true;
  }
}
