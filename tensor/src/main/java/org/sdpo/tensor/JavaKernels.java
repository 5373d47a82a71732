package org.sdpo.tensor;

import org.sdpo.tensor.Backend.BinaryOp;
import org.sdpo.tensor.Backend.ReduceOp;
import org.sdpo.tensor.Backend.ScalarOp;
import org.sdpo.tensor.Backend.UnaryOp;

/**
 * Elementwise, row-wise and column-wise kernels as plain Java loops over contiguous memory.
 *
 * <p>Measured on the project's 2-core machines, ND4J 1.0.0-M2.1's elementwise ops cost about 1 ns
 * per element for an add and 2-5 ns for exp and tanh, plus a few µs per call, and do not speed up
 * with a second thread; a Java loop costs about 1 ns per element with no per-call cost. So the
 * ND4J backend sends these shapes here and keeps ND4J for matrix products and the general cases
 * (arbitrary broadcasting, strided views, reductions over inner axes). Large loops are split over
 * the cores with {@link Parallel}, with identical results for any split.
 */
final class JavaKernels {
  private JavaKernels() {}

  // ---------------------------------------------------------------- elementwise

  static double unary(UnaryOp op, double v) {
    switch (op) {
      case NEG:
        return -v;
      case EXP:
        return Math.exp(v);
      case LOG:
        return Math.log(v);
      case TANH:
        return tanh(v);
      case SIGMOID:
        return 1 / (1 + Math.exp(-v));
      case SQRT:
        return Math.sqrt(v);
      case ABS:
        return Math.abs(v);
      case RELU:
        return v > 0 ? v : 0;
      case SQUARE:
        return v * v;
      case RECIPROCAL:
        return 1 / v;
      case STEP:
        return v > 0 ? 1 : 0;
      default:
        throw new AssertionError(op);
    }
  }

  /**
   * tanh with a small relative error everywhere: tanh|x| = -m / (2 + m), m = expm1(-2|x|), below
   * |x| = 0.55, where 1 - exp(-2|x|) would cancel (tanh(1e-20) must be 1e-20, not 0); above, {@link
   * #geluTanh} ({@code Math.tanh} is not intrinsified and costs about 20 ns).
   */
  static double tanh(double v) {
    double a = Math.abs(v);
    if (a >= 0.55) {
      return geluTanh(v);
    }
    double m = Math.expm1(-2 * a);
    double t = -m / (2 + m);
    return v < 0 ? -t : t;
  }

  /**
   * tanh from one exp, as GELU computes it: tanh|x| = (1 - e) / (1 + e), e = exp(-2|x|). Its error
   * is absolute (below 1e-16), harmless in GELU's 0.5 x (1 + t), and every recorded GELU result
   * was made with it (the CUDA backend's {@code tanh_cpu} is the same).
   */
  static double geluTanh(double v) {
    double e = Math.exp(-2 * Math.abs(v));
    double t = (1 - e) / (1 + e);
    return v < 0 ? -t : t;
  }

  /** t = {@link #geluTanh}(t), in place. */
  static void geluTanh(Buf t) {
    Parallel.forRange(t.size(), cost(UnaryOp.TANH), (s, e) -> {
      for (int i = s; i < e; i++) {
        t.set(i, geluTanh(t.get(i)));
      }
    });
  }

  static void unary(UnaryOp op, Buf x, Buf out) {
    Parallel.forRange(out.size(), cost(op), (s, e) -> {
      for (int i = s; i < e; i++) {
        out.set(i, unary(op, x.get(i)));
      }
    });
  }

  private static int cost(UnaryOp op) {
    return op == UnaryOp.EXP || op == UnaryOp.LOG || op == UnaryOp.TANH || op == UnaryOp.SIGMOID
        ? 8 : 1;
  }

  static double binary(BinaryOp op, double u, double v) {
    switch (op) {
      case ADD:
        return u + v;
      case SUB:
        return u - v;
      case MUL:
        return u * v;
      case DIV:
        return u / v;
      case GREATER:
        return u > v ? 1 : 0;
      case MAX:
        return Math.max(u, v);
      default:
        throw new AssertionError(op);
    }
  }

  /**
   * out = a op b where b repeats with period {@code bPeriod} along the flat index (b the same
   * shape as out: period = size; b a trailing-axes row such as a bias: period = its size; b a
   * scalar: period 1) and a likewise with {@code aPeriod}.
   */
  static void binaryRows(BinaryOp op, Buf a, int aPeriod, Buf b, int bPeriod, Buf out) {
    // vector loads only pay when a segment holds at least one vector (not a scalar operand)
    if (VectorKernels.supports(op) && VectorSupport.lanes(a, b, out)
        && Math.min(aPeriod, bPeriod) >= VectorKernels.lanes()) {
      Buf.F32 fa = (Buf.F32) a;
      Buf.F32 fb = (Buf.F32) b;
      Buf.F32 fo = (Buf.F32) out;
      forEachSegment(aPeriod, bPeriod, out.size(),
          (ao, bo, o, len) -> VectorKernels.segment(op, fa, ao, fb, bo, fo, o, len));
      return;
    }
    binaryRowsScalar(op, a, aPeriod, b, bPeriod, out);
  }

  /** {@link #binaryRows} as scalar loops: the reference the vector kernel is tested against. */
  static void binaryRowsScalar(BinaryOp op, Buf a, int aPeriod, Buf b, int bPeriod, Buf out) {
    forEachSegment(aPeriod, bPeriod, out.size(), (ao, bo, o, len) -> {
      for (int j = 0; j < len; j++) {
        out.set(o + j, binary(op, a.get(ao + j), b.get(bo + j)));
      }
    });
  }

  /** Contiguous runs {@code out[o, o+len) = a[ao, ..) op b[bo, ..)}, indices from each start. */
  interface Segment {
    void run(int ao, int bo, int o, int len);
  }

  /**
   * Splits out = a op b, where b repeats with period {@code bPeriod} and a with {@code aPeriod},
   * into contiguous segments over the cores: ranges of the whole buffer when neither repeats,
   * else one segment per repetition of the shorter period (which divides the longer one).
   */
  private static void forEachSegment(int aPeriod, int bPeriod, int n, Segment body) {
    if (aPeriod == n && bPeriod == n) {
      Parallel.forRange(n, 1, (s, e) -> body.run(s, s, s, e - s));
      return;
    }
    int inner = Math.min(aPeriod, bPeriod);
    Parallel.forRange(n / inner, inner, (s, e) -> {
      for (int r = s; r < e; r++) {
        int o = r * inner;
        body.run(aPeriod == n ? o : o % aPeriod, bPeriod == n ? o : o % bPeriod, o, inner);
      }
    });
  }

  /**
   * out = a op b where one operand is constant along the inner {@code inner} elements (a column
   * such as a row statistic of shape (N, 1) against (N, K)): {@code aColumn}/{@code bColumn} say
   * which.
   */
  static void binaryColumns(BinaryOp op, Buf a, boolean aColumn, Buf b, boolean bColumn, int inner,
      Buf out) {
    int rows = out.size() / inner;
    Parallel.forRange(rows, inner, (s, e) -> {
      for (int r = s; r < e; r++) {
        int o = r * inner;
        for (int j = 0; j < inner; j++) {
          double u = aColumn ? a.get(r) : a.get(o + j);
          double v = bColumn ? b.get(r) : b.get(o + j);
          out.set(o + j, binary(op, u, v));
        }
      }
    });
  }

  static void scalar(ScalarOp op, Buf x, double s, Buf out) {
    boolean lanes = (op == ScalarOp.MUL || op == ScalarOp.ADD) && VectorSupport.lanes(x, out);
    Parallel.forRange(out.size(), op == ScalarOp.POW ? 16 : 1, (st, e) -> {
      int i = lanes ? VectorKernels.scalar(op == ScalarOp.MUL, (Buf.F32) x, s, (Buf.F32) out, st,
          e) : st;
      for (; i < e; i++) {
        double v = x.get(i);
        double r;
        switch (op) {
          case ADD:
            r = v + s;
            break;
          case MUL:
            r = v * s;
            break;
          case RSUB:
            r = s - v;
            break;
          case RDIV:
            r = s / v;
            break;
          case POW:
            r = Math.pow(v, s);
            break;
          default:
            throw new AssertionError(op);
        }
        out.set(i, r);
      }
    });
  }

  static void axpy(double alpha, Buf x, Buf y) {
    boolean lanes = VectorSupport.lanes(x, y);
    Parallel.forRange(y.size(), 1, (s, e) -> {
      int i = lanes ? VectorKernels.axpy(alpha, (Buf.F32) x, (Buf.F32) y, s, e) : s;
      for (; i < e; i++) {
        y.set(i, y.get(i) + alpha * x.get(i));
      }
    });
  }

  /**
   * Whether {@link #copyStrided} copies whole rows at once (two block copies per row): float32,
   * with unit strides along the last axis on both sides.
   */
  static boolean copiesRows(boolean f32, int[] srcStrides, int[] dstStrides) {
    int r = srcStrides.length;
    return f32 && r > 0 && srcStrides[r - 1] == 1 && dstStrides[r - 1] == 1;
  }

  /**
   * dst = src over {@code shape}, each read and written through its offset and strides (elements):
   * a copy between views of the same dtype. The last axis runs in the inner loop; the outer
   * index is split across threads.
   */
  static void copyStrided(Buf src, int srcOff, int[] srcStrides, Buf dst, int dstOff,
      int[] dstStrides, int[] shape) {
    int r = shape.length;
    if (r == 0) {
      dst.set(dstOff, src.get(srcOff));
      return;
    }
    int inner = shape[r - 1];
    int sIn = srcStrides[r - 1];
    int dIn = dstStrides[r - 1];
    int outer = 1;
    for (int k = 0; k < r - 1; k++) {
      outer *= shape[k];
    }
    boolean rows = copiesRows(src instanceof Buf.F32 && dst instanceof Buf.F32, srcStrides,
        dstStrides);
    Parallel.forRange(outer, inner, (from, to) -> {
      float[] row = rows ? new float[inner] : null;
      for (int o = from; o < to; o++) {
        int so = srcOff;
        int d0 = dstOff;
        int rest = o;
        for (int k = r - 2; k >= 0; k--) {
          int c = rest % shape[k];
          rest /= shape[k];
          so += c * srcStrides[k];
          d0 += c * dstStrides[k];
        }
        if (rows) { // contiguous rows on both sides: two block copies
          ((Buf.F32) src).get(so, row, inner);
          ((Buf.F32) dst).put(d0, row, inner);
          continue;
        }
        for (int i = 0; i < inner; i++) {
          dst.set(d0 + i * dIn, src.get(so + i * sIn));
        }
      }
    });
  }

  static void fill(Buf out, double v) {
    boolean lanes = VectorSupport.lanes(out);
    Parallel.forRange(out.size(), 1, (s, e) -> {
      int i = lanes ? VectorKernels.fill((Buf.F32) out, v, s, e) : s;
      for (; i < e; i++) {
        out.set(i, v);
      }
    });
  }

  // ---------------------------------------------------------------- reductions

  /** Reduces each row of {@code inner} consecutive elements to one value. */
  static void reduceRows(ReduceOp op, Buf x, int inner, Buf out) {
    int rows = out.size();
    Parallel.forRange(rows, inner, (s, e) -> {
      for (int r = s; r < e; r++) {
        int o = r * inner;
        double acc = op == ReduceOp.MAX ? Double.NEGATIVE_INFINITY : 0;
        for (int j = 0; j < inner; j++) {
          double v = x.get(o + j);
          acc = op == ReduceOp.MAX ? Math.max(acc, v) : acc + v;
        }
        out.set(r, op == ReduceOp.MEAN ? acc / inner : acc);
      }
    });
  }

  /**
   * Reduces over the leading {@code rows}: out[j] = reduce over r of x[r * cols + j]. Each thread
   * takes a block of columns and walks the rows in order (cache-friendly, and every column is
   * summed in the same order whatever the split).
   */
  static void reduceColumns(ReduceOp op, Buf x, int rows, int cols, Buf out) {
    boolean lanes = op != ReduceOp.MAX && VectorSupport.lanes(x);
    Parallel.forRange(cols, rows, (s, e) -> {
      double[] acc = new double[e - s];
      java.util.Arrays.fill(acc, op == ReduceOp.MAX ? Double.NEGATIVE_INFINITY : 0);
      for (int r = 0; r < rows; r++) {
        int o = r * cols;
        int j = lanes ? VectorKernels.sumColumns((Buf.F32) x, o, s, e, acc) : s;
        for (; j < e; j++) {
          double v = x.get(o + j);
          acc[j - s] = op == ReduceOp.MAX ? Math.max(acc[j - s], v) : acc[j - s] + v;
        }
      }
      for (int j = s; j < e; j++) {
        out.set(j, op == ReduceOp.MEAN ? acc[j - s] / rows : acc[j - s]);
      }
    });
  }

  /** Softmax of each row of {@code inner} elements, with the row maximum subtracted first. */
  static void softmaxRows(Buf x, int inner, Buf out) {
    int rows = out.size() / inner;
    Parallel.forRange(rows, inner * 8, (s, e) -> {
      for (int r = s; r < e; r++) {
        int o = r * inner;
        double m = Double.NEGATIVE_INFINITY;
        for (int j = 0; j < inner; j++) {
          m = Math.max(m, x.get(o + j));
        }
        double sum = 0;
        for (int j = 0; j < inner; j++) {
          double p = Math.exp(x.get(o + j) - m);
          out.set(o + j, p);
          sum += p;
        }
        double inv = 1 / sum;
        for (int j = 0; j < inner; j++) {
          out.set(o + j, out.get(o + j) * inv);
        }
      }
    });
  }
}
