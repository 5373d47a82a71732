package org.sdpo.tensor;

import java.nio.DoubleBuffer;
import java.nio.FloatBuffer;

/**
 * Every {@link Backend} method in plain double loops over strided memory, written from the
 * interface's contract and nothing else: the oracle every backend is checked against
 * ({@link BackendConformanceTest}). Values are computed in double precision and stored in the
 * tensor's dtype (a float32 result is the double result rounded once). Used only in tests; slow
 * on purpose (one index computation per element).
 */
final class ReferenceBackend implements Backend {

  /** Strided memory: a base buffer, the offset of element 0 and a stride per axis. */
  static final class Ref implements Storage {
    final Object nio; // FloatBuffer or DoubleBuffer over the whole base array
    final int offset;
    final int[] strides;

    Ref(Object nio, int offset, int[] strides) {
      this.nio = nio;
      this.offset = offset;
      this.strides = strides;
    }

    double at(int physical) {
      return nio instanceof FloatBuffer f ? f.get(physical) : ((DoubleBuffer) nio).get(physical);
    }

    void put(int physical, double v) {
      if (nio instanceof FloatBuffer f) {
        f.put(physical, (float) v);
      } else {
        ((DoubleBuffer) nio).put(physical, v);
      }
    }
  }

  private static Ref ref(Tensor t) {
    return (Ref) t.storage();
  }

  static int[] rowMajor(int[] shape) {
    return Shape.rowMajorStrides(shape);
  }

  static int numel(int[] shape) {
    return (int) Shape.numel(shape);
  }

  /** The multi-index of row-major position {@code flat} in {@code shape}. */
  static int[] unravel(int flat, int[] shape) {
    int[] idx = new int[shape.length];
    for (int i = shape.length - 1; i >= 0; i--) {
      idx[i] = flat % shape[i];
      flat /= shape[i];
    }
    return idx;
  }

  private static int physical(Tensor t, int[] idx) {
    Ref r = ref(t);
    int p = r.offset;
    for (int i = 0; i < idx.length; i++) {
      p += idx[i] * r.strides[i];
    }
    return p;
  }

  static double read(Tensor t, int flat) {
    return ref(t).at(physical(t, unravel(flat, t.shape())));
  }

  static void write(Tensor t, int flat, double v) {
    ref(t).put(physical(t, unravel(flat, t.shape())), v);
  }

  /** The element of {@code t} that broadcasting maps to {@code outIdx} of a larger shape. */
  private static double broadcastRead(Tensor t, int[] outIdx) {
    int[] s = t.shape();
    int[] idx = new int[s.length];
    int shift = outIdx.length - s.length;
    for (int i = 0; i < s.length; i++) {
      idx[i] = s[i] == 1 ? 0 : outIdx[i + shift];
    }
    return ref(t).at(physical(t, idx));
  }

  @Override
  public String description() {
    return "reference (plain double loops)";
  }

  @Override
  public Storage allocate(DType dtype, int[] shape) {
    int n = numel(shape);
    Object nio = dtype == DType.FLOAT32 ? FloatBuffer.wrap(new float[n])
        : DoubleBuffer.wrap(new double[n]);
    return new Ref(nio, 0, rowMajor(shape));
  }

  @Override
  public Storage fromDoubles(double[] data, DType dtype, int[] shape) {
    Ref r = (Ref) allocate(dtype, shape);
    for (int i = 0; i < data.length; i++) {
      r.put(i, data[i]);
    }
    return r;
  }

  @Override
  public Storage fromFloats(float[] data, DType dtype, int[] shape) {
    Ref r = (Ref) allocate(dtype, shape);
    for (int i = 0; i < data.length; i++) {
      r.put(i, data[i]);
    }
    return r;
  }

  @Override
  public double[] toDoubles(Tensor t) {
    double[] d = new double[numel(t.shape())];
    for (int i = 0; i < d.length; i++) {
      d[i] = read(t, i);
    }
    return d;
  }

  @Override
  public float[] toFloats(Tensor t) {
    float[] d = new float[numel(t.shape())];
    for (int i = 0; i < d.length; i++) {
      d[i] = (float) read(t, i);
    }
    return d;
  }

  @Override
  public double get(Tensor t, long flatIndex) {
    return read(t, (int) flatIndex);
  }

  @Override
  public void set(Tensor t, long flatIndex, double value) {
    write(t, (int) flatIndex, value);
  }

  @Override
  public void write(Tensor t, int start, double[] src, int count) {
    for (int i = 0; i < count; i++) {
      ref(t).put(physical(t, unravel(start + i, t.shape())), src[i]);
    }
  }

  @Override
  public void read(Tensor t, int start, double[] dst, int count) {
    for (int i = 0; i < count; i++) {
      dst[i] = read(t, start + i);
    }
  }

  @Override
  public Buf buffer(Tensor t) {
    Ref r = ref(t);
    int n = numel(t.shape());
    return r.nio instanceof FloatBuffer f ? Buf.of(f, r.offset, n)
        : Buf.of((DoubleBuffer) r.nio, r.offset, n);
  }

  @Override
  public boolean isContiguous(Tensor t) {
    int[] s = t.shape();
    int[] want = rowMajor(s);
    for (int i = 0; i < s.length; i++) {
      if (s[i] > 1 && ref(t).strides[i] != want[i]) {
        return false;
      }
    }
    return true;
  }

  @Override
  public Storage reshape(Tensor t, int[] shape) {
    return new Ref(ref(t).nio, ref(t).offset, rowMajor(shape));
  }

  @Override
  public Storage permute(Tensor t, int[] axes) {
    int[] s = new int[axes.length];
    for (int i = 0; i < axes.length; i++) {
      s[i] = ref(t).strides[axes[i]];
    }
    return new Ref(ref(t).nio, ref(t).offset, s);
  }

  @Override
  public Storage slice(Tensor t, int axis, int start, int end) {
    Ref r = ref(t);
    return new Ref(r.nio, r.offset + start * r.strides[axis], r.strides.clone());
  }

  @Override
  public void assign(Tensor src, Tensor out) {
    int n = numel(out.shape());
    for (int i = 0; i < n; i++) {
      write(out, i, broadcastRead(src, unravel(i, out.shape())));
    }
  }

  @Override
  public void fill(Tensor out, double value) {
    int n = numel(out.shape());
    for (int i = 0; i < n; i++) {
      write(out, i, value);
    }
  }

  @Override
  public void binary(BinaryOp op, Tensor a, Tensor b, Tensor out) {
    int n = numel(out.shape());
    for (int i = 0; i < n; i++) {
      int[] idx = unravel(i, out.shape());
      double x = broadcastRead(a, idx);
      double y = broadcastRead(b, idx);
      write(out, i, switch (op) {
        case ADD -> x + y;
        case SUB -> x - y;
        case MUL -> x * y;
        case DIV -> x / y;
        case GREATER -> x > y ? 1 : 0;
        case MAX -> Math.max(x, y);
      });
    }
  }

  @Override
  public void unary(UnaryOp op, Tensor a, Tensor out) {
    int n = numel(out.shape());
    for (int i = 0; i < n; i++) {
      double x = read(a, i);
      write(out, i, switch (op) {
        case NEG -> -x;
        case EXP -> Math.exp(x);
        case LOG -> Math.log(x);
        case TANH -> Math.tanh(x);
        case SIGMOID -> 1 / (1 + Math.exp(-x));
        case SQRT -> Math.sqrt(x);
        case ABS -> Math.abs(x);
        case RELU -> Math.max(x, 0);
        case SQUARE -> x * x;
        case RECIPROCAL -> 1 / x;
        case STEP -> x > 0 ? 1 : 0;
      });
    }
  }

  @Override
  public void scalar(ScalarOp op, Tensor a, double s, Tensor out) {
    int n = numel(out.shape());
    for (int i = 0; i < n; i++) {
      double x = read(a, i);
      write(out, i, switch (op) {
        case ADD -> x + s;
        case MUL -> x * s;
        case POW -> Math.pow(x, s);
        case RSUB -> s - x;
        case RDIV -> s / x;
      });
    }
  }

  @Override
  public void axpy(double alpha, Tensor x, Tensor y) {
    int n = numel(y.shape());
    for (int i = 0; i < n; i++) {
      write(y, i, read(y, i) + alpha * read(x, i));
    }
  }

  @Override
  public void matmul(Tensor a, Tensor b, Tensor out, boolean transposeA, boolean transposeB) {
    int[] as = a.shape();
    int[] bs = b.shape();
    int r = as.length;
    int batch = r == 3 ? as[0] : 1;
    int m = transposeA ? as[r - 1] : as[r - 2];
    int k = transposeA ? as[r - 2] : as[r - 1];
    int n = transposeB ? bs[r - 2] : bs[r - 1];
    for (int z = 0; z < batch; z++) {
      for (int i = 0; i < m; i++) {
        for (int j = 0; j < n; j++) {
          double acc = 0;
          for (int q = 0; q < k; q++) {
            acc += at(a, z, transposeA ? q : i, transposeA ? i : q)
                * at(b, z, transposeB ? j : q, transposeB ? q : j);
          }
          write(out, (z * m + i) * n + j, acc);
        }
      }
    }
  }

  @Override
  public void linear(Tensor x, Tensor w, boolean transposeW, Tensor bias, Tensor out) {
    int n = x.shape()[0];
    int k = x.shape()[1];
    int m = out.shape()[1];
    for (int i = 0; i < n; i++) {
      for (int j = 0; j < m; j++) {
        double acc = 0;
        for (int q = 0; q < k; q++) {
          acc += at(x, 0, i, q) * (transposeW ? at(w, 0, j, q) : at(w, 0, q, j));
        }
        write(out, i * m + j, acc + read(bias, j));
      }
    }
  }

  private static double at(Tensor t, int batch, int row, int col) {
    return ref(t).at(physical(t, t.shape().length == 3 ? new int[] {batch, row, col}
        : new int[] {row, col}));
  }

  @Override
  public void reduce(ReduceOp op, Tensor a, int[] axes, Tensor out) {
    int[] s = a.shape();
    int outN = numel(out.shape());
    double[] acc = new double[outN];
    java.util.Arrays.fill(acc, op == ReduceOp.MAX ? Double.NEGATIVE_INFINITY : 0);
    int count = 1;
    for (int ax : axes) {
      count *= s[ax];
    }
    for (int i = 0; i < numel(s); i++) {
      int[] idx = unravel(i, s);
      for (int ax : axes) {
        idx[ax] = 0;
      }
      int o = 0;
      for (int d = 0; d < idx.length; d++) { // row-major position in the keep-dims shape
        o = o * out.shape()[d] + idx[d];
      }
      double x = read(a, i);
      acc[o] = op == ReduceOp.MAX ? Math.max(acc[o], x) : acc[o] + x;
    }
    for (int o = 0; o < outN; o++) {
      write(out, o, op == ReduceOp.MEAN ? acc[o] / count : acc[o]);
    }
  }

  @Override
  public void softmax(Tensor a, Tensor out) {
    int[] s = a.shape();
    int c = s[s.length - 1];
    int rows = numel(s) / c;
    for (int r = 0; r < rows; r++) {
      double[] ms = rowMaxAndExpSum(a, r * c, c);
      for (int j = 0; j < c; j++) {
        write(out, r * c + j, Math.exp(read(a, r * c + j) - ms[0]) / ms[1]);
      }
    }
  }

  @Override
  public void logSoftmax(Tensor a, Tensor out) {
    int[] s = a.shape();
    int c = s[s.length - 1];
    int rows = numel(s) / c;
    for (int r = 0; r < rows; r++) {
      double[] ms = rowMaxAndExpSum(a, r * c, c);
      double lse = ms[0] + Math.log(ms[1]);
      for (int j = 0; j < c; j++) {
        write(out, r * c + j, read(a, r * c + j) - lse);
      }
    }
  }

  /** The max m of a's c elements from {@code from} (row-major), and their sum of exp(x - m). */
  private static double[] rowMaxAndExpSum(Tensor a, int from, int c) {
    double max = Double.NEGATIVE_INFINITY;
    for (int j = 0; j < c; j++) {
      max = Math.max(max, read(a, from + j));
    }
    double sum = 0;
    for (int j = 0; j < c; j++) {
      sum += Math.exp(read(a, from + j) - max);
    }
    return new double[] {max, sum};
  }

  @Override
  public void where(Tensor cond, Tensor a, Tensor b, Tensor out) {
    int n = numel(out.shape());
    for (int i = 0; i < n; i++) {
      write(out, i, read(cond, i) != 0 ? read(a, i) : read(b, i));
    }
  }

  @Override
  public void assignAt(Tensor src, Tensor out, int axis, Indices start) {
    int s = start.values()[0];
    for (int i = 0; i < numel(src.shape()); i++) {
      int[] idx = unravel(i, src.shape());
      double v = ref(src).at(physical(src, idx));
      idx[axis] += s;
      ref(out).put(physical(out, idx), v);
    }
  }

  @Override
  public void concat(int axis, Tensor[] parts, Tensor out) {
    int n = numel(out.shape());
    for (int i = 0; i < n; i++) {
      int[] idx = unravel(i, out.shape());
      int p = 0;
      while (idx[axis] >= parts[p].shape()[axis]) {
        idx[axis] -= parts[p].shape()[axis];
        p++;
      }
      write(out, i, ref(parts[p]).at(physical(parts[p], idx)));
    }
  }

  // ---------------------------------------------------------------- fused kernels

  @Override
  public void gelu(Tensor x, Tensor y, Tensor t) {
    for (int i = 0; i < numel(x.shape()); i++) {
      double v = read(x, i);
      double th = Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v * v * v));
      write(t, i, th);
      write(y, i, 0.5 * v * (1 + th));
    }
  }

  @Override
  public void geluBackward(Tensor x, Tensor t, Tensor g, Tensor dx) {
    for (int i = 0; i < numel(x.shape()); i++) {
      double v = read(x, i);
      double th = read(t, i);
      write(dx, i, read(g, i) * (0.5 * (1 + th) + 0.5 * v * (1 - th * th) * Math.sqrt(2 / Math.PI)
          * (1 + 3 * 0.044715 * v * v)));
    }
  }

  @Override
  public void silu(Tensor x, Tensor y, Tensor s) {
    for (int i = 0; i < numel(x.shape()); i++) {
      double v = read(x, i);
      double sig = 1 / (1 + Math.exp(-v));
      write(s, i, sig);
      write(y, i, v * sig);
    }
  }

  @Override
  public void siluBackward(Tensor x, Tensor s, Tensor g, Tensor dx) {
    for (int i = 0; i < numel(x.shape()); i++) {
      double sig = read(s, i);
      write(dx, i, read(g, i) * (sig + read(x, i) * sig * (1 - sig)));
    }
  }

  @Override
  public void rmsNorm(Tensor x, Tensor gamma, double eps, Tensor y, Tensor rstd) {
    int C = x.shape()[x.shape().length - 1];
    for (int r = 0; r < numel(x.shape()) / C; r++) {
      double ms = 0;
      for (int c = 0; c < C; c++) {
        ms += read(x, r * C + c) * read(x, r * C + c) / C;
      }
      double inv = 1 / Math.sqrt(ms + eps);
      write(rstd, r, inv);
      for (int c = 0; c < C; c++) {
        write(y, r * C + c, read(x, r * C + c) * inv * read(gamma, c));
      }
    }
  }

  @Override
  public void rmsNormBackward(Tensor x, Tensor gamma, Tensor rstd, Tensor g, Tensor dx,
      Tensor dgamma) {
    int C = x.shape()[x.shape().length - 1];
    int rows = numel(x.shape()) / C;
    double[] dg = new double[C];
    for (int r = 0; r < rows; r++) {
      double inv = read(rstd, r);
      double dot = 0;
      for (int c = 0; c < C; c++) {
        dot += read(g, r * C + c) * read(gamma, c) * read(x, r * C + c) * inv / C;
      }
      for (int c = 0; c < C; c++) {
        double xhat = read(x, r * C + c) * inv;
        write(dx, r * C + c, inv * (read(g, r * C + c) * read(gamma, c) - xhat * dot));
        dg[c] += read(g, r * C + c) * xhat;
      }
    }
    for (int c = 0; c < C; c++) {
      write(dgamma, c, dg[c]);
    }
  }

  @Override
  public void layerNorm(Tensor x, Tensor gamma, Tensor beta, double eps, Tensor y, Tensor mean,
      Tensor rstd) {
    int C = x.shape()[x.shape().length - 1];
    for (int r = 0; r < numel(x.shape()) / C; r++) {
      double m = 0;
      for (int c = 0; c < C; c++) {
        m += read(x, r * C + c) / C;
      }
      double var = 0;
      for (int c = 0; c < C; c++) {
        var += (read(x, r * C + c) - m) * (read(x, r * C + c) - m) / C;
      }
      double inv = 1 / Math.sqrt(var + eps);
      write(mean, r, m);
      write(rstd, r, inv);
      for (int c = 0; c < C; c++) {
        write(y, r * C + c, (read(x, r * C + c) - m) * inv * read(gamma, c) + read(beta, c));
      }
    }
  }

  @Override
  public void layerNormBackward(Tensor x, Tensor gamma, Tensor mean, Tensor rstd, Tensor g,
      Tensor dx, Tensor dgamma, Tensor dbeta) {
    int C = x.shape()[x.shape().length - 1];
    double[] dg = new double[C];
    double[] db = new double[C];
    for (int r = 0; r < numel(x.shape()) / C; r++) {
      double m = read(mean, r);
      double inv = read(rstd, r);
      double meanD = 0;
      double meanDX = 0;
      for (int c = 0; c < C; c++) {
        double xhat = (read(x, r * C + c) - m) * inv;
        double dxhat = read(g, r * C + c) * read(gamma, c);
        meanD += dxhat / C;
        meanDX += dxhat * xhat / C;
      }
      for (int c = 0; c < C; c++) {
        double xhat = (read(x, r * C + c) - m) * inv;
        write(dx, r * C + c, inv * (read(g, r * C + c) * read(gamma, c) - meanD - xhat * meanDX));
        dg[c] += read(g, r * C + c) * xhat;
        db[c] += read(g, r * C + c);
      }
    }
    for (int c = 0; c < C; c++) {
      write(dgamma, c, dg[c]);
      write(dbeta, c, db[c]);
    }
  }

  @Override
  public void rope(Tensor x, Tensor cos, Tensor sin, int sign, Tensor y) {
    int[] s = x.shape();
    int half = s[3] / 2;
    for (int i = 0; i < numel(s); i++) {
      int[] idx = unravel(i, s); // b, h, t, d
      int j = idx[3] % half;
      int a = (idx[0] * s[2] + idx[2]) * half + j;
      double c = read(cos, a);
      double sn = sign * read(sin, a);
      int o = i - idx[3];
      double x1 = read(x, o + j);
      double x2 = read(x, o + half + j);
      write(y, i, idx[3] < half ? x1 * c - x2 * sn : x2 * c + x1 * sn);
    }
  }

  private static int lastDim(Tensor t) {
    return t.shape()[t.shape().length - 1];
  }

  @Override
  public void softmaxBackward(Tensor y, Tensor g, double scale, Tensor dx) {
    int K = lastDim(y);
    for (int r = 0; r < numel(y.shape()) / K; r++) {
      double dot = 0;
      for (int j = 0; j < K; j++) {
        dot += read(g, r * K + j) * read(y, r * K + j);
      }
      for (int j = 0; j < K; j++) {
        write(dx, r * K + j, scale * read(y, r * K + j) * (read(g, r * K + j) - dot));
      }
    }
  }

  @Override
  public void logSoftmaxBackward(Tensor p, Tensor g, Tensor dx) {
    int K = lastDim(p);
    for (int r = 0; r < numel(p.shape()) / K; r++) {
      double sum = 0;
      for (int j = 0; j < K; j++) {
        sum += read(g, r * K + j);
      }
      for (int j = 0; j < K; j++) {
        write(dx, r * K + j, read(g, r * K + j) - read(p, r * K + j) * sum);
      }
    }
  }

  @Override
  public void crossEntropyLoss(Tensor logp, Indices targets, int ignoreIndex, Tensor out) {
    int V = lastDim(logp);
    int[] ts = targets.values();
    double sum = 0;
    int valid = 0;
    for (int n = 0; n < ts.length; n++) {
      if (ts[n] != ignoreIndex) {
        sum -= read(logp, n * V + ts[n]);
        valid++;
      }
    }
    write(out, 0, valid == 0 ? 0 : sum / valid);
    write(out, 1, valid);
  }

  @Override
  public void crossEntropyBackward(Tensor p, Indices targets, int ignoreIndex, Tensor g,
      Tensor stats, Tensor dx) {
    int V = lastDim(p);
    int[] ts = targets.values();
    double valid = read(stats, 1);
    double scale = valid == 0 ? 0 : read(g, 0) / valid;
    for (int n = 0; n < ts.length; n++) {
      for (int j = 0; j < V; j++) {
        double onehot = j == ts[n] ? 1 : 0;
        write(dx, n * V + j, ts[n] == ignoreIndex ? 0 : scale * (read(p, n * V + j) - onehot));
      }
    }
  }

  @Override
  public void log1mexp(Tensor x, Tensor y) {
    for (int i = 0; i < numel(x.shape()); i++) {
      write(y, i, Math.log(1 - Math.exp(read(x, i))));
    }
  }

  @Override
  public void log1mexpBackward(Tensor x, Tensor g, Tensor dx) {
    for (int i = 0; i < numel(x.shape()); i++) {
      double e = Math.exp(read(x, i));
      write(dx, i, -read(g, i) * e / (1 - e));
    }
  }

  @Override
  public void blendCoefficients(Tensor lp, Tensor p, Tensor lq, Indices tokens, Tensor tokenTerm,
      double lambda, double clip, Tensor c) {
    int V = lp.shape()[1];
    for (int i = 0; i < numel(c.shape()); i++) {
      double a = Math.max(-clip, Math.min(clip, read(lq, i) - read(lp, i)));
      double onToken = tokens.values()[i / V] == i % V ? read(tokenTerm, i / V) : 0;
      write(c, i, (1 - lambda) * read(p, i) * a + onToken);
    }
  }

  @Override
  public void pickBackward(Tensor g, Indices idx, Tensor dx) {
    int N = dx.shape()[0];
    int K = dx.shape()[1];
    int J = N == 0 ? 0 : idx.length() / N;
    for (int i = 0; i < numel(dx.shape()); i++) {
      double sum = 0;
      boolean hit = false;
      for (int j = 0; j < J; j++) {
        if (idx.values()[i / K * J + j] == i % K) {
          double gj = read(g, i / K * J + j);
          sum = hit ? sum + gj : gj;
          hit = true;
        }
      }
      write(dx, i, sum);
    }
  }

  @Override
  public void dropoutMask(Tensor mask, double p, Rng rng) {
    for (int i = 0; i < numel(mask.shape()); i++) {
      write(mask, i, rng.nextDouble() < p ? 0 : 1 / (1 - p));
    }
  }

  @Override
  public void attentionSoftmax(Tensor s, double scale, Tensor keyMask, boolean causal,
      int queryOffset, Tensor p) {
    int[] sh = s.shape(); // B, H, Tq, Tk
    int tq = sh[2];
    int tk = sh[3];
    for (int r = 0; r < numel(sh); r += tk) {
      int b = r / tk / tq / sh[1];
      int i = r / tk % tq;
      double[] x = new double[tk];
      boolean[] visible = new boolean[tk];
      double max = Double.NEGATIVE_INFINITY;
      for (int j = 0; j < tk; j++) {
        visible[j] = (!causal || j <= queryOffset + i)
            && (keyMask == null || read(keyMask, b * tk + j) != 0);
        double v = scale * read(s, r + j);
        x[j] = s.dtype() == DType.FLOAT32 ? (float) v : v; // as a multiply's output
        if (visible[j]) {
          max = Math.max(max, x[j]);
        }
      }
      double sum = 0;
      for (int j = 0; j < tk; j++) {
        sum += visible[j] ? Math.exp(x[j] - max) : 0;
      }
      for (int j = 0; j < tk; j++) {
        write(p, r + j, visible[j] ? Math.exp(x[j] - max) / sum : 0);
      }
    }
  }

  @Override
  public void attention(Tensor q, Tensor k, Tensor v, double scale, Tensor keyMask,
      boolean causal, int queryOffset, Tensor p, Tensor out) {
    int[] qs = q.shape(); // B, H, Tq, D
    int hkv = k.dim(1);
    int tk = k.dim(2);
    int d = qs[3];
    int rep = qs[1] / hkv;
    // s = q . k over the key head each query head reads, then the masked softmax, then p v
    for (int b = 0; b < qs[0]; b++) {
      for (int h = 0; h < qs[1]; h++) {
        for (int i = 0; i < qs[2]; i++) {
          int row = (b * qs[1] + h) * qs[2] + i;
          int kv = (b * hkv + h / rep) * tk; // first key of the key head
          for (int j = 0; j < tk; j++) {
            double dot = 0;
            for (int e = 0; e < d; e++) {
              dot += read(q, row * d + e) * read(k, (kv + j) * d + e);
            }
            write(p, row * tk + j, dot);
          }
        }
      }
    }
    attentionSoftmax(p, scale, keyMask, causal, queryOffset, p);
    for (int row = 0; row < numel(qs) / d; row++) {
      int b = row / (qs[1] * qs[2]);
      int kv = (b * hkv + row / qs[2] % qs[1] / rep) * tk;
      for (int e = 0; e < d; e++) {
        double acc = 0;
        for (int j = 0; j < tk; j++) {
          acc += read(p, row * tk + j) * read(v, (kv + j) * d + e);
        }
        write(out, row * d + e, acc);
      }
    }
  }

  /**
   * From the definitions, query head h reading key head g = h / (H / Hkv): dP_ij = g_i . v_j,
   * dS_ij = scale p_ij (dP_ij - sum_l dP_il p_il), dq_i = sum_j dS_ij k_j, and over the group's
   * heads and queries dk_j = sum dS_ij q_i, dv_j = sum p_ij g_i.
   */
  @Override
  public void attentionBackward(Tensor q, Tensor k, Tensor v, Tensor p, Tensor g, double scale,
      Tensor dq, Tensor dk, Tensor dv) {
    int[] qs = q.shape(); // B, H, Tq, D
    int hkv = k.dim(1);
    int tk = k.dim(2);
    int d = qs[3];
    int rep = qs[1] / hkv;
    double[] dkv = new double[2 * numel(k.shape())]; // dk, then dv, summed over each group
    int kn = numel(k.shape());
    for (int row = 0; row < numel(qs) / d; row++) { // (b, h, i)
      int b = row / (qs[1] * qs[2]);
      int kv = (b * hkv + row / qs[2] % qs[1] / rep) * tk; // first key of the key head
      double[] ds = new double[tk];
      double dot = 0;
      for (int j = 0; j < tk; j++) {
        double dp = 0;
        for (int e = 0; e < d; e++) {
          dp += read(g, row * d + e) * read(v, (kv + j) * d + e);
        }
        ds[j] = dp;
        dot += dp * read(p, row * tk + j);
      }
      for (int j = 0; j < tk; j++) {
        double pj = read(p, row * tk + j);
        ds[j] = scale * pj * (ds[j] - dot);
        for (int e = 0; e < d; e++) {
          dkv[(kv + j) * d + e] += ds[j] * read(q, row * d + e);
          dkv[kn + (kv + j) * d + e] += pj * read(g, row * d + e);
        }
      }
      if (dq != null) {
        for (int e = 0; e < d; e++) {
          double acc = 0;
          for (int j = 0; j < tk; j++) {
            acc += ds[j] * read(k, (kv + j) * d + e);
          }
          write(dq, row * d + e, acc);
        }
      }
    }
    for (int i = 0; i < kn; i++) {
      if (dk != null) {
        write(dk, i, dkv[i]);
      }
      if (dv != null) {
        write(dv, i, dkv[kn + i]);
      }
    }
  }

  /**
   * The probabilities of {@link #attention} as doubles, P[(b h i) Tk + j], and each query's
   * log-sum-exp of its visible scaled scores (-inf when it sees none), from the definitions.
   */
  private static double[][] probabilities(Tensor q, Tensor k, double scale, Tensor keyMask,
      boolean causal, int queryOffset) {
    int[] qs = q.shape(); // B, H, Tq, D
    int hkv = k.dim(1);
    int tk = k.dim(2);
    int d = qs[3];
    int rep = qs[1] / hkv;
    int rows = qs[0] * qs[1] * qs[2];
    double[] p = new double[rows * tk];
    double[] lse = new double[rows];
    for (int row = 0; row < rows; row++) {
      int b = row / (qs[1] * qs[2]);
      int i = row % qs[2];
      int kv = (b * hkv + row / qs[2] % qs[1] / rep) * tk;
      double[] s = new double[tk];
      boolean[] seen = new boolean[tk];
      double max = Double.NEGATIVE_INFINITY;
      for (int j = 0; j < tk; j++) {
        seen[j] = (!causal || j <= queryOffset + i)
            && (keyMask == null || read(keyMask, b * tk + j) != 0);
        for (int e = 0; e < d; e++) {
          s[j] += read(q, row * d + e) * read(k, (kv + j) * d + e);
        }
        s[j] *= scale;
        if (seen[j]) {
          max = Math.max(max, s[j]);
        }
      }
      double sum = 0;
      for (int j = 0; j < tk; j++) {
        sum += seen[j] ? Math.exp(s[j] - max) : 0;
      }
      lse[row] = max == Double.NEGATIVE_INFINITY ? max : max + Math.log(sum);
      for (int j = 0; j < tk; j++) {
        p[row * tk + j] = seen[j] ? Math.exp(s[j] - max) / sum : 0;
      }
    }
    return new double[][] {p, lse};
  }

  @Override
  public void flashAttention(Tensor q, Tensor k, Tensor v, double scale, Tensor keyMask,
      boolean causal, int queryOffset, Tensor lse, Tensor out) {
    double[][] pl = probabilities(q, k, scale, keyMask, causal, queryOffset);
    int[] qs = q.shape();
    int hkv = k.dim(1);
    int tk = k.dim(2);
    int d = qs[3];
    int rep = qs[1] / hkv;
    for (int row = 0; row < pl[1].length; row++) {
      write(lse, row, pl[1][row]);
      int kv = (row / (qs[1] * qs[2]) * hkv + row / qs[2] % qs[1] / rep) * tk;
      for (int e = 0; e < d; e++) {
        double acc = 0;
        for (int j = 0; j < tk; j++) {
          acc += pl[0][row * tk + j] * read(v, (kv + j) * d + e);
        }
        write(out, row * d + e, acc);
      }
    }
  }

  /** The attention's backward with the probabilities in hand (dS = P (dP - rowsum(dP P))). */
  @Override
  public void flashAttentionBackward(Tensor q, Tensor k, Tensor v, Tensor out, Tensor lse,
      Tensor g, double scale, Tensor keyMask, boolean causal, int queryOffset, Tensor dq,
      Tensor dk, Tensor dv) {
    double[] p = probabilities(q, k, scale, keyMask, causal, queryOffset)[0];
    int[] qs = q.shape();
    int hkv = k.dim(1);
    int tk = k.dim(2);
    int d = qs[3];
    int rep = qs[1] / hkv;
    double[] dkAcc = new double[numel(k.shape())];
    double[] dvAcc = new double[numel(k.shape())];
    for (int row = 0; row < qs[0] * qs[1] * qs[2]; row++) {
      int kv = (row / (qs[1] * qs[2]) * hkv + row / qs[2] % qs[1] / rep) * tk;
      double[] dp = new double[tk];
      double rowSum = 0;
      for (int j = 0; j < tk; j++) {
        for (int e = 0; e < d; e++) {
          dp[j] += read(g, row * d + e) * read(v, (kv + j) * d + e);
        }
        rowSum += dp[j] * p[row * tk + j];
      }
      double[] dqRow = new double[d];
      for (int j = 0; j < tk; j++) {
        double ds = p[row * tk + j] * (dp[j] - rowSum) * scale;
        for (int e = 0; e < d; e++) {
          dqRow[e] += ds * read(k, (kv + j) * d + e);
          dkAcc[(kv + j) * d + e] += ds * read(q, row * d + e);
          dvAcc[(kv + j) * d + e] += p[row * tk + j] * read(g, row * d + e);
        }
      }
      for (int e = 0; e < d; e++) {
        write(dq, row * d + e, dqRow[e]);
      }
    }
    for (int i = 0; i < dkAcc.length; i++) {
      write(dk, i, dkAcc[i]);
      write(dv, i, dvAcc[i]);
    }
  }

  @Override
  public void adamw(Tensor p, Tensor g, Tensor m, Tensor v, Tensor step, double beta1,
      double beta2, double eps, double weightDecay) {
    double lr = read(step, 0);
    double bc1 = read(step, 1);
    double bc2 = read(step, 2);
    for (int i = 0; i < numel(p.shape()); i++) {
      double gi = read(g, i);
      double mi = beta1 * read(m, i) + (1 - beta1) * gi;
      double vi = beta2 * read(v, i) + (1 - beta2) * gi * gi;
      write(m, i, mi);
      write(v, i, vi);
      double pi = read(p, i);
      write(p, i, pi - lr * (mi / bc1) / (Math.sqrt(vi / bc2) + eps) - lr * weightDecay * pi);
    }
  }

  @Override
  public double sumOfSquares(Tensor x, double acc) {
    for (int i = 0; i < numel(x.shape()); i++) {
      acc += read(x, i) * read(x, i);
    }
    return acc;
  }

  @Override
  public void ema(Tensor t, Tensor s, double rate) {
    for (int i = 0; i < numel(t.shape()); i++) {
      write(t, i, (1 - rate) * read(t, i) + rate * read(s, i));
    }
  }

  @Override
  public void gatherRows(Tensor table, Indices ids, Tensor out) {
    int C = table.shape()[1];
    for (int i = 0; i < numel(out.shape()); i++) {
      write(out, i, read(table, ids.values()[i / C] * C + i % C));
    }
  }

  @Override
  public void scatterAddRows(Tensor src, Indices ids, Tensor table) {
    int C = table.shape()[1];
    for (int i = 0; i < numel(src.shape()); i++) {
      int at = ids.values()[i / C] * C + i % C;
      write(table, at, read(table, at) + read(src, i));
    }
  }

  @Override
  public void pick(Tensor x, Indices idx, Tensor out) {
    int K = x.shape()[1];
    int J = idx.length() / x.shape()[0];
    for (int i = 0; i < idx.values().length; i++) {
      write(out, i, read(x, i / J * K + idx.values()[i]));
    }
  }

  /** A full sort of each row by Double.compare, descending, equal values by id. */
  @Override
  public Indices topK(Tensor x, int K) {
    int N = x.shape()[0];
    int V = x.shape()[1];
    int[] out = new int[N * K];
    for (int n = 0; n < N; n++) {
      final int row = n;
      Integer[] ids = new Integer[V];
      for (int v = 0; v < V; v++) {
        ids[v] = v;
      }
      java.util.Arrays.sort(ids, (a, b) -> {
        int c = Double.compare(read(x, row * V + b), read(x, row * V + a));
        return c != 0 ? c : Integer.compare(a, b);
      });
      for (int k = 0; k < K; k++) {
        out[n * K + k] = ids[k];
      }
    }
    return Indices.host(out);
  }

  @Override
  public boolean isFinite(Tensor t) {
    for (int i = 0; i < numel(t.shape()); i++) {
      if (!Double.isFinite(read(t, i))) {
        return false;
      }
    }
    return true;
  }

  @Override
  public void sampleRows(Tensor logits, boolean[] active, double temperature, int topK,
      double topP, boolean greedy, double[] u, int[] tokens, double[] logprobs) {
    int V = logits.shape()[1];
    for (int b = 0; b < active.length; b++) {
      if (!active[b]) {
        continue;
      }
      double[] z = new double[V];
      for (int i = 0; i < V; i++) {
        z[i] = read(logits, b * V + i);
      }
      double max = java.util.Arrays.stream(z).max().getAsDouble();
      if (greedy) {
        int best = 0;
        for (int i = 1; i < V; i++) {
          best = z[i] > z[best] ? i : best;
        }
        double lse = 0;
        for (double x : z) {
          lse += Math.exp(x - max);
        }
        tokens[b] = best;
        logprobs[b] = z[best] - max - Math.log(lse);
        continue;
      }
      double[] p = new double[V];
      double sum = 0;
      for (int i = 0; i < V; i++) {
        p[i] = Math.exp((z[i] - max) / temperature);
        sum += p[i];
      }
      Integer[] order = new Integer[V];
      for (int i = 0; i < V; i++) {
        p[i] /= sum;
        order[i] = i;
      }
      java.util.Arrays.sort(order, (x, y) -> p[x] != p[y] ? Double.compare(p[y], p[x]) : x - y);
      int keep = topK > 0 ? Math.min(topK, V) : V;
      if (topP < 1) {
        double mass = 0;
        int k = 0;
        while (k < keep && mass < topP) {
          mass += p[order[k++]];
        }
        keep = k;
      }
      double kept = 0;
      for (int k = 0; k < keep; k++) {
        kept += p[order[k]];
      }
      double target = u[b] * kept;
      double acc = 0;
      int token = order[keep - 1];
      for (int k = 0; k < keep; k++) {
        acc += p[order[k]];
        if (target < acc) {
          token = order[k];
          break;
        }
      }
      tokens[b] = token;
      logprobs[b] = Math.log(p[token] / kept);
    }
  }
}
