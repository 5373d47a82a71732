package org.sdpo.tensor.cuda;

import java.nio.ByteBuffer;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.sdpo.tensor.Buf;
import org.sdpo.tensor.FlashAttentionKernels;
import org.sdpo.tensor.Heads;
import org.sdpo.tensor.HostKernels;

/**
 * The Java twin of every kernel in {@code sdpo_kernels.cu}, run by {@link FakeDevice}: the same
 * parameters read from the same packed bytes, the same index arithmetic and the same arithmetic
 * in double with one rounding to the element type on store. A twin may loop where the kernel has
 * threads (the order of a block's tree sum differs), but it checks what the kernel assumes of its
 * launch: the row kernels' block reductions need exactly {@code THREADS} threads.
 */
final class FakeKernels {
  /** The slots of FaHeads (FA_Q .. FA_DV in the kernels). */
  private static final int FA_Q = 0;
  private static final int FA_K = 1;
  private static final int FA_V = 2;
  private static final int FA_O = 3;
  private static final int FA_G = 4;
  private static final int FA_DQ = 5;
  private static final int FA_DK = 6;
  private static final int FA_DV = 7;

  static final int THREADS = 256;

  private FakeKernels() {}

  /** One launch: the device, the argument bytes and their offsets, the element size. */
  static final class L {
    final FakeDevice dev;
    final ByteBuffer args;
    final int[] off;
    final int eb;
    final int grid;
    final int block;

    L(FakeDevice dev, ByteBuffer args, int[] off, int eb, int grid, int block) {
      this.dev = dev;
      this.args = args;
      this.off = off;
      this.eb = eb;
      this.grid = grid;
      this.block = block;
    }

    int i(int param) {
      return args.getInt(off[param]);
    }

    double d(int param) {
      return args.getDouble(off[param]);
    }

    long p(int param) {
      return args.getLong(off[param]);
    }

    Dims dims(int param) {
      return Dims.unpack(args, off[param]);
    }

    /** A FaHeads parameter: 8 slots of (b, h, t) strides. */
    int[][] heads(int param) {
      int[][] hs = new int[8][3];
      for (int x = 0; x < 8; x++) {
        for (int k = 0; k < 3; k++) {
          hs[x][k] = args.getInt(off[param] + 4 * (3 * x + k));
        }
      }
      return hs;
    }

    /** Element {@code idx} of a T* parameter. */
    double ld(int param, long idx) {
      return dev.load(p(param), idx, eb);
    }

    void st(int param, long idx, double v) {
      dev.store(p(param), idx, eb, v);
    }

    /** Element of a double* parameter. */
    double ldD(int param, long idx) {
      return dev.load(p(param), idx, 8);
    }

    void stD(int param, long idx, double v) {
      dev.store(p(param), idx, 8, v);
    }

    /** Element of a long long* parameter (the many-tensor kernels' tables). */
    long ldL(int param, long idx) {
      long addr = p(param) + 8 * idx;
      return dev.region(p(param), addr, 8).getLong(dev.offsetIn(addr));
    }

    /**
     * Each block of a kernel over many tensors (TensorTables): its tensor's row of the table at
     * parameter {@code table} (with {@code tensors} rows) and its chunk's first and end element.
     */
    void manyBlocks(int tensors, int table, ManyBlock body) {
      blockReduces();
      for (int b = 0; b < grid; b++) {
        long t = ldL(table, (long) TensorTables.ROW * tensors + 2L * b);
        long start = ldL(table, (long) TensorTables.ROW * tensors + 2L * b + 1);
        long[] row = new long[TensorTables.ROW];
        for (int k = 0; k < row.length; k++) {
          row[k] = ldL(table, TensorTables.ROW * t + k);
        }
        body.run(b, row, start, Math.min(row[4], start + TensorTables.CHUNK));
      }
    }

    /** Element of an int* parameter. */
    int ldI(int param, long idx) {
      long addr = p(param) + 4 * idx;
      return dev.region(p(param), addr, 4).getInt(dev.offsetIn(addr));
    }

    void stI(int param, long idx, int v) {
      long addr = p(param) + 4 * idx;
      dev.region(p(param), addr, 4).putInt(dev.offsetIn(addr), v);
    }

    /**
     * The T* parameter as a {@link Buf} of {@code n} elements: reads and writes go through the
     * device's checked accesses, so a kernel's twin cannot reach past the allocation.
     */
    Buf buf(int param, int n) {
      long base = p(param);
      return new Buf() {
        @Override
        public double get(int i) {
          check(i);
          return dev.load(base, i, eb);
        }

        @Override
        public void set(int i, double v) {
          check(i);
          dev.store(base, i, eb, v);
        }

        @Override
        public int size() {
          return n;
        }

        private void check(int i) {
          if (i < 0 || i >= n) {
            throw new IllegalStateException("fake device: element " + i + " of a " + n
                + "-element operand (parameter " + param + ")");
          }
        }
      };
    }

    /** T rounded as stored. */
    double round(double v) {
      return eb == 4 ? (float) v : v;
    }

    /** A kernel written for blocks of exactly {@code n} warps. */
    void warps(int n) {
      if (block != 32 * n) {
        throw new IllegalStateException("a kernel of " + n + " warps launched with " + block
            + " threads");
      }
    }

    void blockReduces() {
      if (block != THREADS) {
        throw new IllegalStateException("a row kernel's block reduction needs " + THREADS
            + " threads, launched with " + block);
      }
    }
  }

  /** One block of a kernel over many tensors: its tensor's table row and its chunk. */
  interface ManyBlock {
    void run(int block, long[] row, long start, long end);
  }

  /** One element of AdamW's update: the adamw kernels' arithmetic, in double. */
  private static void adamwAt(FakeDevice dev, int eb, long p, long g, long m, long v, long i,
      double[] step, double b1, double b2, double eps, double wd) {
    double gi = dev.load(g, i, eb);
    double mi = b1 * dev.load(m, i, eb) + (1 - b1) * gi;
    double vi = b2 * dev.load(v, i, eb) + (1 - b2) * gi * gi;
    dev.store(m, i, eb, mi);
    dev.store(v, i, eb, vi);
    double pi = dev.load(p, i, eb);
    dev.store(p, i, eb, pi - step[0] * (mi / step[1]) / (Math.sqrt(vi / step[2]) + eps)
        - step[0] * wd * pi);
  }

  /** A kernel that must run as one block of THREADS threads (one block's sum). */
  static void oneBlock(L l, String why) {
    if (l.grid != 1 || l.block != THREADS) {
      throw new IllegalStateException(why + " in one block of " + THREADS + " threads, launched "
          + "with " + l.grid + " x " + l.block);
    }
  }

  /**
   * What block_sum returns for the THREADS values of a block's threads: the same tree, in the
   * same order (v is overwritten).
   */
  static double blockSum(double[] v) {
    for (int s = THREADS / 2; s > 0; s >>= 1) {
      for (int t = 0; t < s; t++) {
        v[t] += v[t + s];
      }
    }
    return v[0];
  }

  interface Twin {
    void run(L l);
  }

  private static final Map<String, Twin> TWINS = new HashMap<>();

  static void run(FakeDevice dev, String kernel, ByteBuffer args, int grid, int block) {
    List<KernelSource.Param> sig = KernelSource.signature(kernel);
    if (args.remaining() < KernelArgs.offsets(sig)[sig.size() - 1]) {
      throw new IllegalStateException(kernel + ": argument buffer too short");
    }
    int eb = kernel.endsWith("_f32") ? 4 : 8;
    Twin t = TWINS.get(KernelSource.sourceName(kernel));
    if (t == null) {
      throw new IllegalStateException("fake device: no Java twin of kernel " + kernel);
    }
    t.run(new L(dev, args, KernelArgs.offsets(sig), eb, grid, block));
  }

  /** The kernel names (without the type suffix) that have a twin. */
  static java.util.Set<String> names() {
    return TWINS.keySet();
  }

  /** A row's max m and sum of exp(x - m): C elements of pointer {@code p} from offset o. */
  private static double[] rowMaxAndExpSum(L l, int p, long o, int C) {
    double m = Double.NEGATIVE_INFINITY;
    for (int c = 0; c < C; c++) {
      m = Math.max(m, l.ld(p, o + c));
    }
    double s = 0;
    for (int c = 0; c < C; c++) {
      s += Math.exp(l.ld(p, o + c) - m);
    }
    return new double[] {m, s};
  }

  private static void twin(String name, Twin t) {
    TWINS.put(name, t);
  }

  /** The kernels' tanh_cpu: GELU's tanh from one exp (an absolute error below 1e-16). */
  static double geluTanh(double v) {
    double e = Math.exp(-2 * Math.abs(v));
    double t = (1 - e) / (1 + e);
    return v < 0 ? -t : t;
  }

  static double map(int op, double v, double s) {
    switch (op) {
      case 0: return -v;
      case 1: return Math.exp(v);
      case 2: return Math.log(v);
      case 3: { // tanh_accurate: relative error near 0 (expm1), GELU's form above 0.55
        double a = Math.abs(v);
        if (a >= 0.55) {
          return geluTanh(v);
        }
        double m = Math.expm1(-2 * a);
        double t = -m / (2 + m);
        return v < 0 ? -t : t;
      }
      case 4: return 1 / (1 + Math.exp(-v));
      case 5: return Math.sqrt(v);
      case 6: return Math.abs(v);
      case 7: return v > 0 ? v : 0;
      case 8: return v * v;
      case 9: return 1 / v;
      case 10: return v > 0 ? 1 : 0;
      case 16: return v + s;
      case 17: return v * s;
      case 18: return Math.pow(v, s);
      case 19: return s - v;
      case 20: return s / v;
      default: return v;
    }
  }

  static double binary(int op, double u, double v) {
    switch (op) {
      case 0: return u + v;
      case 1: return u - v;
      case 2: return u * v;
      case 3: return u / v;
      case 4: return u > v ? 1 : 0;
      default: return Math.max(u, v);
    }
  }

  static {
    // ------------------------------------------------ copies between element types
    twin("copy_f32_f64", l -> copy(l, 4, 8));
    twin("copy_f64_f32", l -> copy(l, 8, 4));
    twin("to_bf16_f32", l -> {
      Dims d = l.dims(0);
      int[] o = new int[4];
      for (int i = 0; i < d.numel(); i++) {
        d.locate(i, o);
        long addr = l.p(2) + 2L * o[0];
        l.dev.region(l.p(2), addr, 2).putShort(l.dev.offsetIn(addr),
            bf16((float) l.dev.load(l.p(1), o[1], 4)));
      }
    });
    twin("to_bf16_flat_f32", l -> {
      if (l.p(1) % 16 != 0 || l.p(2) % 8 != 0) { // float4 loads, bfloat162 pairs stored
        throw new IllegalStateException("to_bf16_flat_f32: misaligned operand (" + l.p(1) + ", "
            + l.p(2) + ")");
      }
      for (int i = 0; i < l.i(0); i++) {
        long addr = l.p(2) + 2L * i;
        l.dev.region(l.p(2), addr, 2).putShort(l.dev.offsetIn(addr),
            bf16((float) l.dev.load(l.p(1), i, 4)));
      }
    });

    // ------------------------------------------------ elementwise over views
    twin("map", l -> {
      Dims d = l.dims(2);
      int[] o = new int[4];
      for (int i = 0; i < d.numel(); i++) {
        d.locate(i, o);
        l.st(4, o[0], map(l.i(0), l.ld(3, o[1]), l.d(1)));
      }
    });
    twin("copy_at", l -> {
      Dims d = l.dims(0);
      int s = l.ldI(1, 0);
      if (s < 0 || s > l.i(3)) {
        return;
      }
      long shift = (long) s * l.i(2);
      int[] o = new int[4];
      for (int i = 0; i < d.numel(); i++) {
        d.locate(i, o);
        l.st(5, shift + o[0], l.ld(4, o[1]));
      }
    });
    twin("binary", l -> {
      Dims d = l.dims(1);
      int[] o = new int[4];
      for (int i = 0; i < d.numel(); i++) {
        d.locate(i, o);
        l.st(4, o[0], binary(l.i(0), l.ld(2, o[1]), l.ld(3, o[2])));
      }
    });
    twin("where", l -> {
      Dims d = l.dims(0);
      int[] o = new int[4];
      for (int i = 0; i < d.numel(); i++) {
        d.locate(i, o);
        l.st(4, o[0], l.ld(1, o[1]) != 0 ? l.ld(2, o[2]) : l.ld(3, o[3]));
      }
    });
    twin("fill", l -> {
      Dims d = l.dims(0);
      int[] o = new int[4];
      for (int i = 0; i < d.numel(); i++) {
        d.locate(i, o);
        l.st(2, o[0], l.d(1));
      }
    });
    twin("axpy", l -> {
      Dims d = l.dims(0);
      int[] o = new int[4];
      for (int i = 0; i < d.numel(); i++) {
        d.locate(i, o);
        l.st(3, o[0], l.ld(3, o[0]) + l.d(1) * l.ld(2, o[1]));
      }
    });

    // ------------------------------------------------ reductions
    twin("reduce", l -> {
      l.blockReduces();
      int op = l.i(0);
      Dims outer = l.dims(1);
      Dims inner = l.dims(2);
      int[] oo = new int[4];
      int[] io = new int[4];
      for (int r = 0; r < outer.numel(); r++) {
        outer.locate(r, oo);
        double acc = op == 2 ? Double.NEGATIVE_INFINITY : 0;
        for (int j = 0; j < inner.numel(); j++) {
          inner.locate(j, io);
          double v = l.ld(3, oo[1] + io[1]);
          acc = op == 2 ? Math.max(acc, v) : acc + v;
        }
        l.st(4, oo[0], op == 1 ? acc / inner.numel() : acc);
      }
    });
    twin("sum_squares", l -> {
      l.blockReduces();
      int n = l.i(0);
      int threads = l.grid * l.block;
      for (int b = 0; b < l.grid; b++) {
        double acc = 0;
        for (int i = b * l.block; i < n; i += threads) { // the block's threads' grid strides
          for (int t = i; t < Math.min(i + l.block, n); t++) {
            double v = l.ld(1, t);
            acc += v * v;
          }
        }
        l.stD(2, b, acc);
      }
    });
    twin("sum_squares_many", l -> l.manyBlocks(l.i(0), 1, (b, row, start, end) -> {
      double acc = 0;
      for (long i = start; i < end; i++) {
        double v = l.dev.load(row[0], i, l.eb);
        acc += v * v;
      }
      l.stD(2, b, acc);
    }));
    twin("is_finite", l -> {
      for (int i = 0; i < l.i(0); i++) {
        if (!Double.isFinite(l.ld(1, i))) {
          l.stI(2, 0, 1);
        }
      }
    });

    // ------------------------------------------------ row kernels
    twin("softmax", l -> {
      l.blockReduces();
      int C = l.i(1);
      for (int r = 0; r < l.i(0); r++) {
        long o = (long) r * C;
        double[] ms = rowMaxAndExpSum(l, 2, o, C);
        for (int c = 0; c < C; c++) {
          l.st(3, o + c, Math.exp(l.ld(2, o + c) - ms[0]) / ms[1]);
        }
      }
    });
    twin("log_softmax", l -> {
      l.blockReduces();
      int C = l.i(1);
      for (int r = 0; r < l.i(0); r++) {
        long o = (long) r * C;
        double[] ms = rowMaxAndExpSum(l, 2, o, C);
        double lse = ms[0] + Math.log(ms[1]);
        for (int c = 0; c < C; c++) {
          l.st(3, o + c, l.ld(2, o + c) - lse);
        }
      }
    });
    twin("softmax_backward", l -> {
      l.blockReduces();
      int K = l.i(1);
      double scale = l.d(2);
      for (int r = 0; r < l.i(0); r++) {
        long o = (long) r * K;
        double dot = 0;
        for (int j = 0; j < K; j++) {
          dot += l.ld(4, o + j) * l.ld(3, o + j);
        }
        for (int j = 0; j < K; j++) {
          l.st(5, o + j, scale * l.ld(3, o + j) * (l.ld(4, o + j) - dot));
        }
      }
    });
    twin("log_softmax_backward", l -> {
      l.blockReduces();
      int K = l.i(1);
      for (int r = 0; r < l.i(0); r++) {
        long o = (long) r * K;
        double sum = 0;
        for (int j = 0; j < K; j++) {
          sum += l.ld(3, o + j);
        }
        for (int j = 0; j < K; j++) {
          l.st(4, o + j, l.ld(3, o + j) - l.ld(2, o + j) * sum);
        }
      }
    });
    twin("rms_norm", l -> {
      l.blockReduces();
      int C = l.i(1);
      for (int r = 0; r < l.i(0); r++) {
        long o = (long) r * C;
        double ms = 0;
        for (int c = 0; c < C; c++) {
          ms += l.ld(3, o + c) * l.ld(3, o + c);
        }
        double s = 1.0 / Math.sqrt(ms / C + l.d(2));
        for (int c = 0; c < C; c++) {
          l.st(5, o + c, l.ld(3, o + c) * s * l.ld(4, c));
        }
        l.stD(6, r, s);
      }
    });
    twin("rms_norm_backward", l -> {
      l.blockReduces();
      int C = l.i(1);
      for (int r = 0; r < l.i(0); r++) {
        long o = (long) r * C;
        double s = l.ldD(4, r);
        double m = 0;
        for (int c = 0; c < C; c++) {
          m += l.ld(5, o + c) * l.ld(3, c) * l.ld(2, o + c) * s;
        }
        m /= C;
        for (int c = 0; c < C; c++) {
          double xhat = l.ld(2, o + c) * s;
          l.st(6, o + c, s * (l.ld(5, o + c) * l.ld(3, c) - xhat * m));
        }
      }
    });
    twin("layer_norm", l -> {
      l.blockReduces();
      int C = l.i(1);
      for (int r = 0; r < l.i(0); r++) {
        long o = (long) r * C;
        double m = 0;
        for (int c = 0; c < C; c++) {
          m += l.ld(3, o + c);
        }
        m /= C;
        double v = 0;
        for (int c = 0; c < C; c++) {
          double d = l.ld(3, o + c) - m;
          v += d * d;
        }
        double s = 1.0 / Math.sqrt(v / C + l.d(2));
        for (int c = 0; c < C; c++) {
          l.st(6, o + c, (l.ld(3, o + c) - m) * s * l.ld(4, c) + l.ld(5, c));
        }
        l.stD(7, r, m);
        l.stD(8, r, s);
      }
    });
    twin("layer_norm_backward", l -> {
      l.blockReduces();
      int C = l.i(1);
      for (int r = 0; r < l.i(0); r++) {
        long o = (long) r * C;
        double m = l.ldD(4, r);
        double s = l.ldD(5, r);
        double md = 0;
        double mdx = 0;
        for (int c = 0; c < C; c++) {
          double xhat = (l.ld(2, o + c) - m) * s;
          double dxhat = l.ld(6, o + c) * l.ld(3, c);
          md += dxhat;
          mdx += dxhat * xhat;
        }
        md /= C;
        mdx /= C;
        for (int c = 0; c < C; c++) {
          double xhat = (l.ld(2, o + c) - m) * s;
          l.st(7, o + c, s * (l.ld(6, o + c) * l.ld(3, c) - md - xhat * mdx));
        }
      }
    });
    twin("col_partial", l -> {
      l.blockReduces();
      int mode = l.i(0);
      int rows = l.i(1);
      int C = l.i(2);
      int per = l.i(3);
      int tiles = (C + 31) / 32;
      int chunks = (rows + per - 1) / per;
      for (int b = 0; b < tiles * chunks; b++) { // the kernel's blocks, its lanes in lane order
        int chunk = b / tiles;
        int r1 = Math.min(rows, chunk * per + per);
        for (int c = (b % tiles) * 32; c < Math.min(C, (b % tiles) * 32 + 32); c++) {
          double s0 = 0;
          double s1 = 0;
          for (int lane = 0; lane < 8; lane++) {
            double a0 = 0;
            double a1 = 0;
            for (int r = chunk * per + lane; r < r1; r += 8) {
              long o = (long) r * C + c;
              double dy = l.ld(4, o);
              if (mode == 0) {
                a0 += dy;
              } else if (mode == 1) {
                a0 += dy * (l.ld(5, o) - l.ldD(6, r)) * l.ldD(7, r);
                a1 += dy;
              } else {
                a0 += dy * l.ld(5, o) * l.ldD(7, r);
              }
            }
            s0 += a0;
            s1 += a1;
          }
          l.stD(8, (long) chunk * C + c, s0);
          if (mode == 1) {
            l.stD(8, (long) (chunks + chunk) * C + c, s1);
          }
        }
      }
    });
    twin("col_finish", l -> {
      int mode = l.i(0);
      int chunks = l.i(1);
      int C = l.i(2);
      for (int c = 0; c < C; c++) {
        double s0 = 0;
        double s1 = 0;
        for (int k = 0; k < chunks; k++) {
          s0 += l.ldD(4, (long) k * C + c);
          if (mode == 1) {
            s1 += l.ldD(4, (long) (chunks + k) * C + c);
          }
        }
        l.st(5, c, s0 / l.d(3));
        if (mode == 1) {
          l.st(6, c, s1);
        }
      }
    });

    // ------------------------------------------------ elementwise, contiguous
    twin("gelu", l -> {
      for (int i = 0; i < l.i(0); i++) {
        double v = l.ld(1, i);
        double th = geluTanh(0.7978845608028654 * (v + 0.044715 * v * v * v));
        l.st(3, i, th);
        l.st(2, i, 0.5 * v * (1.0 + l.round(th)));
      }
    });
    twin("gelu_backward", l -> {
      for (int i = 0; i < l.i(0); i++) {
        double v = l.ld(1, i);
        double th = l.ld(2, i);
        double dudx = 0.7978845608028654 * (1.0 + 3.0 * 0.044715 * v * v);
        l.st(4, i, l.ld(3, i) * (0.5 * (1.0 + th) + 0.5 * v * (1.0 - th * th) * dudx));
      }
    });
    twin("silu", l -> {
      for (int i = 0; i < l.i(0); i++) {
        double v = l.ld(1, i);
        double sg = 1.0 / (1.0 + Math.exp(-v));
        l.st(3, i, sg);
        l.st(2, i, v * sg);
      }
    });
    twin("silu_backward", l -> {
      for (int i = 0; i < l.i(0); i++) {
        double sg = l.ld(2, i);
        l.st(4, i, l.ld(3, i) * sg * (1.0 + l.ld(1, i) * (1.0 - sg)));
      }
    });
    twin("log1mexp", l -> {
      for (int i = 0; i < l.i(0); i++) {
        double v = l.ld(1, i);
        l.st(2, i, v > -0.6931471805599453 ? Math.log(-Math.expm1(v)) : Math.log1p(-Math.exp(v)));
      }
    });
    twin("log1mexp_backward", l -> {
      for (int i = 0; i < l.i(0); i++) {
        l.st(3, i, -l.ld(2, i) / Math.expm1(-l.ld(1, i)));
      }
    });
    twin("adamw", l -> {
      double[] step = {l.ldD(1, 0), l.ldD(1, 1), l.ldD(1, 2)}; // lr, bc1, bc2
      for (int i = 0; i < l.i(0); i++) {
        adamwAt(l.dev, l.eb, l.p(6), l.p(7), l.p(8), l.p(9), i, step, l.d(2), l.d(3), l.d(4),
            l.d(5));
      }
    });
    twin("adamw_many", l -> {
      double[] step = {l.ldD(2, 0), l.ldD(2, 1), l.ldD(2, 2)};
      l.manyBlocks(l.i(0), 1, (b, row, start, end) -> {
        for (long i = start; i < end; i++) {
          adamwAt(l.dev, l.eb, row[0], row[1], row[2], row[3], i, step, l.d(3), l.d(4), l.d(5),
              Double.longBitsToDouble(row[5]));
        }
      });
    });
    twin("ema", l -> {
      double rate = l.d(1);
      for (int i = 0; i < l.i(0); i++) {
        l.st(2, i, (1 - rate) * l.ld(2, i) + rate * l.ld(3, i));
      }
    });
    twin("rope", l -> {
      int B = l.i(0);
      int H = l.i(1);
      int T = l.i(2);
      int D = l.i(3);
      int sign = l.i(4);
      int half = D / 2;
      for (int i = 0; i < B * H * T * half; i++) {
        int j = i % half;
        int row = i / half;
        int t = row % T;
        int b = row / (H * T);
        long o = (long) row * D;
        int a = (b * T + t) * half + j;
        double c = l.ld(6, a);
        double sn = sign * l.ld(7, a);
        double x1 = l.ld(5, o + j);
        double x2 = l.ld(5, o + half + j);
        l.st(8, o + j, x1 * c - x2 * sn);
        l.st(8, o + half + j, x2 * c + x1 * sn);
      }
    });

    // ------------------------------------------------ losses and gathers
    twin("nll_pick", l -> {
      int V = l.i(1);
      int ignore = l.i(2);
      for (int r = 0; r < l.i(0); r++) {
        int t = l.ldI(4, r);
        l.stD(5, r, t == ignore ? 0 : l.ld(3, (long) r * V + t));
      }
    });
    twin("sample_rows", SampleRowsTwin::run);
    twin("clip_norm", l -> {
      oneBlock(l, "clip_norm adds the partial sums");
      double[] lanes = new double[THREADS];
      for (int i = 0; i < l.i(0); i++) {
        lanes[i % THREADS] += l.ldD(2, i);
      }
      double n = Math.sqrt(blockSum(lanes));
      double maxNorm = l.d(1);
      boolean apply = Double.isFinite(n) && maxNorm > 0 && n > maxNorm;
      l.stD(3, 0, n);
      l.stD(4, 0, apply ? 1 : 0);
      l.stD(4, 1, apply ? maxNorm / (n + 1e-6) : 1);
    });
    twin("clip_scale", l -> {
      if (l.ldD(1, 0) == 0) {
        return;
      }
      double f = l.ldD(1, 1);
      for (int i = 0; i < l.i(0); i++) {
        l.st(2, i, l.ld(2, i) * f);
      }
    });
    twin("fill_many", l -> l.manyBlocks(l.i(0), 1, (b, row, start, end) -> {
      for (long i = start; i < end; i++) {
        l.dev.store(row[0], i, l.eb, l.d(2));
      }
    }));
    twin("clip_scale_many", l -> {
      if (l.ldD(2, 0) == 0) {
        return;
      }
      double f = l.ldD(2, 1);
      l.manyBlocks(l.i(0), 1, (b, row, start, end) -> {
        for (long i = start; i < end; i++) {
          l.dev.store(row[0], i, l.eb, l.dev.load(row[0], i, l.eb) * f);
        }
      });
    });
    twin("nll_mean", l -> {
      oneBlock(l, "nll_mean adds the rows");
      int ignore = l.i(1);
      double[] sums = new double[THREADS];
      double[] counts = new double[THREADS];
      for (int r = 0; r < l.i(0); r++) {
        if (l.ldI(2, r) != ignore) {
          sums[r % THREADS] -= l.ldD(3, r);
          counts[r % THREADS] += 1;
        }
      }
      double sum = blockSum(sums);
      double valid = blockSum(counts);
      l.stD(4, 0, valid == 0 ? 0 : sum / valid);
      l.stD(4, 1, valid);
    });
    twin("cross_entropy_backward", l -> {
      int V = l.i(1);
      int ignore = l.i(2);
      double valid = l.ldD(4, 1);
      double scale = valid == 0 ? 0 : l.ld(3, 0) / valid;
      for (int i = 0; i < l.i(0) * V; i++) {
        int r = i / V;
        int t = l.ldI(6, r);
        if (t == ignore) {
          l.st(7, i, 0);
        } else {
          double d = l.round(scale * l.ld(5, i));
          l.st(7, i, i - r * V == t ? d - scale : d);
        }
      }
    });
    twin("blend_coefficients", l -> {
      int V = l.i(1);
      double lambda = l.d(2);
      double clip = l.d(3);
      for (long i = 0; i < (long) l.i(0) * V; i++) {
        int n = (int) (i / V);
        double a = Math.max(-clip, Math.min(clip, l.ld(6, i) - l.ld(4, i)));
        double d = (1 - lambda) * l.ld(5, i) * a;
        l.st(9, i, d + (i - (long) n * V == l.ldI(7, n) ? l.ldD(8, n) : 0));
      }
    });
    twin("pick_backward", l -> {
      int J = l.i(1);
      int K = l.i(2);
      for (int i = 0; i < l.i(0) * K; i++) {
        int r = i / K;
        double acc = 0;
        boolean hit = false;
        for (int j = 0; j < J; j++) {
          if (l.ldI(4, r * J + j) == i - r * K) {
            acc = hit ? l.round(acc + l.ld(3, r * J + j)) : l.ld(3, r * J + j);
            hit = true;
          }
        }
        l.st(5, i, acc);
      }
    });
    twin("pick", l -> {
      int J = l.i(1);
      int K = l.i(2);
      for (int i = 0; i < l.i(0); i++) {
        l.st(5, i, l.ld(3, (long) (i / J) * K + l.ldI(4, i)));
      }
    });
    twin("top_k", l -> {
      int N = l.i(0);
      int V = l.i(1);
      int K = l.i(2);
      if (K > CudaBackend.TOPK_MAX) {
        throw new IllegalStateException("top_k: K " + K + " above TOPK_MAX");
      }
      int[] ids = HostKernels.topK(l.buf(3, N * V), N, V, K);
      for (int i = 0; i < ids.length; i++) {
        l.stI(4, i, ids[i]);
      }
    });
    twin("gather_rows", l -> {
      int C = l.i(1);
      for (int i = 0; i < l.i(0) * C; i++) {
        int r = i / C;
        l.st(4, i, l.ld(2, (long) l.ldI(3, r) * C + (i - r * C)));
      }
    });
    twin("scatter_add_rows", l -> { // each element's additions in the order of i, as the kernel
      l.blockReduces(); // the ids pass through shared memory in blocks of THREADS
      int M = l.i(0);
      int C = l.i(1);
      int N = l.i(2);
      if (l.i(3) < 1) {
        throw new IllegalStateException("scatter_add_rows: rangeRows " + l.i(3));
      }
      for (int i = 0; i < M; i++) {
        int id = l.ldI(5, i);
        if (id < 0 || id >= N) {
          continue; // no block owns it: the kernel skips it
        }
        for (int c = 0; c < C; c++) {
          long to = (long) id * C + c;
          l.st(6, to, l.ld(6, to) + l.ld(4, (long) i * C + c));
        }
      }
    });
    twin("attention_softmax", l -> {
      l.blockReduces();
      int H = l.i(1);
      int Tq = l.i(2);
      int Tk = l.i(3);
      boolean causal = l.i(4) != 0;
      int qoff = l.i(5);
      double scale = l.d(6);
      boolean hasKeyMask = l.i(7) != 0;
      boolean f32 = l.eb == 4; // x is rounded to the element type, as the kernel casts it
      for (int r = 0; r < l.i(0); r++) { // the kernel's three passes over one row, in order
        long mo = (long) (r / (H * Tq)) * Tk;
        int last = causal ? qoff + r % Tq : Tk - 1;
        long o = (long) r * Tk;
        double m = Double.NEGATIVE_INFINITY;
        for (int j = 0; j <= last; j++) {
          if (!hasKeyMask || l.ld(8, mo + j) != 0) {
            m = Math.max(m, scaled(scale * l.ld(9, o + j), f32));
          }
        }
        double sum = 0;
        for (int j = 0; j <= last; j++) {
          if (!hasKeyMask || l.ld(8, mo + j) != 0) {
            sum += Math.exp(scaled(scale * l.ld(9, o + j), f32) - m);
          }
        }
        for (int j = 0; j < Tk; j++) {
          boolean shown = j <= last && (!hasKeyMask || l.ld(8, mo + j) != 0)
              && m != Double.NEGATIVE_INFINITY;
          l.st(10, o + j, shown ? Math.exp(scaled(scale * l.ld(9, o + j), f32) - m) / sum : 0);
        }
      }
    });
    // flash attention: the CPU's loops (FlashAttentionKernels, in double) over device memory,
    // each tensor where it lies; the kernels compute the same sums tile by tile in T (an online
    // softmax), so the two differ by rounding only. Arguments 0-11: B, H, Hkv, Tq, Tk, D, causal,
    // qoff, scale, hasKeyMask, keyMask, the tensors' strides (FaHeads).
    twin("flash_forward", l -> {
      l.blockReduces(); // 16 x 16 threads per tile
      flashForward(l);
    });
    // the tensor-core kernels (bf16 products): the same loops, without the bf16 roundings, so
    // the twins are as exact as the float32 kernels' (the emulator runs the roundings)
    twin("flash_tc_forward_f32", l -> {
      l.warps(4);
      flashForward(l);
    });
    twin("flash_tc_backward_dq_f32", l -> {
      l.warps(4);
      flashBackwardDq(l);
    });
    twin("flash_tc_backward_dkdv_f32", l -> {
      l.warps(4);
      flashBackwardDkDv(l);
    });
    twin("flash_delta", l -> {
      l.blockReduces(); // a warp per row
      int B = l.i(0);
      int H = l.i(1);
      int Tq = l.i(2);
      int D = l.i(3);
      int[][] hs = l.heads(4);
      Heads g = heads(l, 5, hs[FA_G], B, H, Tq, D);
      Heads out = heads(l, 6, hs[FA_O], B, H, Tq, D);
      for (int r = 0; r < B * H * Tq; r++) {
        int b = r / (H * Tq);
        int h = r / Tq % H;
        int i = r % Tq;
        double acc = 0;
        for (int d = 0; d < D; d++) {
          acc += g.buf.get(g.row(b, h, i) + d) * out.buf.get(out.row(b, h, i) + d);
        }
        l.st(7, r, acc);
      }
    });
    twin("flash_backward_dq", l -> {
      l.blockReduces();
      flashBackwardDq(l);
    });
    twin("flash_backward_dkdv", l -> {
      l.blockReduces();
      flashBackwardDkDv(l);
    });
  }

  private static void flashForward(L l) {
    int[] n = flashShape(l);
    int[][] hs = l.heads(11);
    FlashAttentionKernels.forward(queries(l, 12, hs[FA_Q], n), keys(l, 13, hs[FA_K], n),
        keys(l, 14, hs[FA_V], n), l.d(8), flashMask(l, n), l.i(6) != 0, l.i(7), n[0], n[1],
        n[2], n[3], n[4], n[5], l.buf(15, n[6]), queries(l, 16, hs[FA_O], n));
  }

  private static void flashBackwardDq(L l) {
    int[] n = flashShape(l);
    int[][] hs = l.heads(11);
    FlashAttentionKernels.backward(queries(l, 12, hs[FA_Q], n), keys(l, 13, hs[FA_K], n),
        keys(l, 14, hs[FA_V], n), null, l.buf(17, n[6]), l.buf(16, n[6]),
        queries(l, 15, hs[FA_G], n), l.d(8), flashMask(l, n), l.i(6) != 0, l.i(7), n[0], n[1],
        n[2], n[3], n[4], n[5], queries(l, 18, hs[FA_DQ], n), null, null);
  }

  private static void flashBackwardDkDv(L l) {
    int[] n = flashShape(l);
    int[][] hs = l.heads(11);
    FlashAttentionKernels.backward(queries(l, 12, hs[FA_Q], n), keys(l, 13, hs[FA_K], n),
        keys(l, 14, hs[FA_V], n), null, l.buf(17, n[6]), l.buf(16, n[6]),
        queries(l, 15, hs[FA_G], n), l.d(8), flashMask(l, n), l.i(6) != 0, l.i(7), n[0], n[1],
        n[2], n[3], n[4], n[5], null, keys(l, 18, hs[FA_DK], n), keys(l, 19, hs[FA_DV], n));
  }

  /**
   * A flash kernel's shape arguments and the elements of its lse: B, H, Hkv, Tq, Tk, D,
   * B H Tq; checks what the kernel assumes (H a multiple of Hkv, D within FA_DMAX).
   */
  private static int[] flashShape(L l) {
    int B = l.i(0);
    int H = l.i(1);
    int Hkv = l.i(2);
    int Tq = l.i(3);
    int Tk = l.i(4);
    int D = l.i(5);
    if (Hkv <= 0 || H % Hkv != 0 || D > CudaBackend.FLASH_MAX_HEAD || Tq > Tk) {
      throw new IllegalStateException("flash kernel: H " + H + ", Hkv " + Hkv + ", Tq " + Tq
          + ", Tk " + Tk + ", D " + D);
    }
    return new int[] {B, H, Hkv, Tq, Tk, D, B * H * Tq};
  }

  /** Pointer parameter p as (B, H, Tq, D) heads with strides s. */
  private static Heads queries(L l, int p, int[] s, int[] n) {
    return heads(l, p, s, n[0], n[1], n[3], n[5]);
  }

  /** Pointer parameter p as (B, Hkv, Tk, D) heads with strides s. */
  private static Heads keys(L l, int p, int[] s, int[] n) {
    return heads(l, p, s, n[0], n[2], n[4], n[5]);
  }

  /** Pointer parameter p as (B, heads, T, D) heads with strides s (checked: the elements span). */
  private static Heads heads(L l, int p, int[] s, int B, int heads, int T, int D) {
    long span = Heads.span(new int[] {B, heads, T, D}, s[0], s[1], s[2]);
    if (span > Integer.MAX_VALUE || s[0] < 0 || s[1] < 0 || s[2] < 0) {
      throw new IllegalStateException("flash kernel: heads (" + B + ", " + heads + ", " + T
          + ", " + D + ") with strides " + java.util.Arrays.toString(s));
    }
    return new Heads(l.buf(p, (int) span), s[0], s[1], s[2]);
  }

  private static Buf flashMask(L l, int[] n) {
    return l.i(9) != 0 ? l.buf(10, n[0] * n[4]) : null;
  }

  /** A double rounded to float when the kernel's element type is float: {@code (T) v}. */
  private static double scaled(double v, boolean f32) {
    return f32 ? (float) v : v;
  }

  /** float to bfloat16 bits, rounded to nearest with ties to even (as __float2bfloat16_rn). */
  static short bf16(float x) {
    int b = Float.floatToRawIntBits(x);
    if (Float.isNaN(x)) {
      return (short) ((b >>> 16) | 0x40); // a quiet NaN
    }
    b += 0x7FFF + ((b >>> 16) & 1);
    return (short) (b >>> 16);
  }

  /** bfloat16 bits to float (exact). */
  static float fromBf16(short h) {
    return Float.intBitsToFloat((h & 0xFFFF) << 16);
  }

  private static void copy(L l, int from, int to) {
    Dims d = l.dims(0);
    int[] o = new int[4];
    for (int i = 0; i < d.numel(); i++) {
      d.locate(i, o);
      l.dev.store(l.p(2), o[0], to, l.dev.load(l.p(1), o[1], from));
    }
  }
}
