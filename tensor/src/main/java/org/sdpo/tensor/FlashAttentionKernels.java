package org.sdpo.tensor;

/**
 * Attention that keeps the log-sum-exp of each query instead of its probabilities
 * ({@link Backend#flashAttention}, {@link Backend#flashAttentionBackward}), as plain Java loops
 * over host buffers in double: the CPU backend's implementation, and the Java twin of the CUDA
 * kernels on the fake device. Shapes: q (B, H, Tq, D), k and v (B, Hkv, Tk, D), each contiguous
 * or read where it lies ({@link Heads}), keyMask (B, Tk) or null, lse (B, H, Tq); query head h
 * reads key head h / (H / Hkv). Query i of a row sees key j when j &lt;= queryOffset + i (with
 * {@code causal}) and keyMask[b, j] != 0.
 *
 * <p>Each row's sums run in key order (and dK, dV's over query heads, then queries, in order), so
 * the results do not depend on how rows are split across cores. The CUDA kernels compute the same
 * quantities tile by tile (an online softmax), so the two differ by rounding only.
 */
public final class FlashAttentionKernels {
  private FlashAttentionKernels() {}

  /**
   * out, lse from q, k, v:
   *
   * <pre>
   *   s_j   = scale q . k_j                 for the keys j the query sees
   *   lse   = m + log sum_j exp(s_j - m)    m = max_j s_j (-inf when it sees none)
   *   out   = sum_j exp(s_j - lse) v_j      (0 when it sees none)
   * </pre>
   *
   * q, k, v and out contiguous in their buffers (the overload on {@link Heads} reads them where
   * they lie).
   */
  public static void forward(Buf q, Buf k, Buf v, double scale, Buf keyMask, boolean causal,
      int queryOffset, int B, int H, int Hkv, int Tq, int Tk, int D, Buf lse, Buf out) {
    forward(Heads.contiguous(q, H, Tq, D), Heads.contiguous(k, Hkv, Tk, D),
        Heads.contiguous(v, Hkv, Tk, D), scale, keyMask, causal, queryOffset, B, H, Hkv, Tq, Tk,
        D, lse, Heads.contiguous(out, H, Tq, D));
  }

  /** The same on heads of any strides; lse (B, H, Tq) contiguous. */
  public static void forward(Heads q, Heads k, Heads v, double scale, Buf keyMask,
      boolean causal, int queryOffset, int B, int H, int Hkv, int Tq, int Tk, int D, Buf lse,
      Heads out) {
    int rep = H / Hkv;
    Parallel.forRange(B * H * Tq, 4 * Tk * D, (r0, r1) -> {
      double[] qa = new double[D];
      double[] s = new double[Tk];
      double[] o = new double[D];
      for (int r = r0; r < r1; r++) {
        int b = r / (H * Tq);
        int h = r / Tq % H;
        int i = r % Tq;
        int hk = h / rep; // the key head
        int last = causal ? Math.min(Tk - 1, queryOffset + i) : Tk - 1;
        read(q.buf, q.row(b, h, i), qa, 0, D);
        double m = Double.NEGATIVE_INFINITY;
        for (int j = 0; j <= last; j++) {
          if (sees(keyMask, b, Tk, j)) {
            s[j] = scale * dot(qa, k.buf, k.row(b, hk, j), D);
            m = Math.max(m, s[j]);
          }
        }
        java.util.Arrays.fill(o, 0);
        if (m == Double.NEGATIVE_INFINITY) { // a query that sees no key
          lse.set(r, Double.NEGATIVE_INFINITY);
          write(out.buf, out.row(b, h, i), o, 0, D);
          continue;
        }
        double l = 0;
        for (int j = 0; j <= last; j++) {
          if (sees(keyMask, b, Tk, j)) {
            l += Math.exp(s[j] - m);
          }
        }
        double logSum = m + Math.log(l);
        for (int j = 0; j <= last; j++) {
          if (sees(keyMask, b, Tk, j)) {
            double p = Math.exp(s[j] - logSum);
            int vo = v.row(b, hk, j);
            for (int d = 0; d < D; d++) {
              o[d] += p * v.buf.get(vo + d);
            }
          }
        }
        lse.set(r, logSum);
        write(out.buf, out.row(b, h, i), o, 0, D);
      }
    });
  }

  /**
   * dq, dk, dv from g = dL/d out and the forward's out and lse ({@link
   * Backend#flashAttentionBackward}): one task per key head, which owns its dk and dv and its
   * query heads' dq rows. delta_i = g_i . out_i is computed from {@code out}, or read from
   * {@code delta} (B, H, Tq) when {@code out} is null; a null dq, or null dk and dv, is not
   * written (the CUDA kernels' twins compute them in separate launches). Every tensor contiguous
   * in its buffer.
   */
  public static void backward(Buf q, Buf k, Buf v, Buf out, Buf delta, Buf lse, Buf g,
      double scale, Buf keyMask, boolean causal, int queryOffset, int B, int H, int Hkv, int Tq,
      int Tk, int D, Buf dq, Buf dk, Buf dv) {
    backward(Heads.contiguous(q, H, Tq, D), Heads.contiguous(k, Hkv, Tk, D),
        Heads.contiguous(v, Hkv, Tk, D), out == null ? null : Heads.contiguous(out, H, Tq, D),
        delta, lse, Heads.contiguous(g, H, Tq, D), scale, keyMask, causal, queryOffset, B, H,
        Hkv, Tq, Tk, D, dq == null ? null : Heads.contiguous(dq, H, Tq, D),
        dk == null ? null : Heads.contiguous(dk, Hkv, Tk, D),
        dv == null ? null : Heads.contiguous(dv, Hkv, Tk, D));
  }

  /** The same on heads of any strides; delta and lse (B, H, Tq) contiguous. */
  public static void backward(Heads q, Heads k, Heads v, Heads out, Buf delta, Buf lse, Heads g,
      double scale, Buf keyMask, boolean causal, int queryOffset, int B, int H, int Hkv, int Tq,
      int Tk, int D, Heads dq, Heads dk, Heads dv) {
    int rep = H / Hkv;
    Parallel.forRange(B * Hkv, 8 * rep * Tq * Tk * D, (g0, g1) -> {
      double[] qa = new double[D];
      double[] ga = new double[D];
      double[] dqa = new double[D];
      double[] dka = new double[Tk * D];
      double[] dva = new double[Tk * D];
      for (int grp = g0; grp < g1; grp++) {
        int b = grp / Hkv;
        int hk = grp % Hkv; // the key head
        java.util.Arrays.fill(dka, 0);
        java.util.Arrays.fill(dva, 0);
        for (int h = hk * rep; h < (hk + 1) * rep; h++) {
          for (int i = 0; i < Tq; i++) {
            int r = (b * H + h) * Tq + i;
            java.util.Arrays.fill(dqa, 0);
            double logSum = lse.get(r);
            if (logSum != Double.NEGATIVE_INFINITY) {
              read(q.buf, q.row(b, h, i), qa, 0, D);
              read(g.buf, g.row(b, h, i), ga, 0, D);
              double deltaI = out != null ? dot(ga, out.buf, out.row(b, h, i), D) : delta.get(r);
              int last = causal ? Math.min(Tk - 1, queryOffset + i) : Tk - 1;
              for (int j = 0; j <= last; j++) {
                if (!sees(keyMask, b, Tk, j)) {
                  continue;
                }
                int ko = k.row(b, hk, j);
                double p = Math.exp(scale * dot(qa, k.buf, ko, D) - logSum);
                double ds = p * (dot(ga, v.buf, v.row(b, hk, j), D) - deltaI);
                for (int d = 0; d < D; d++) {
                  dqa[d] += scale * ds * k.buf.get(ko + d);
                  dka[j * D + d] += scale * ds * qa[d];
                  dva[j * D + d] += p * ga[d];
                }
              }
            }
            if (dq != null) {
              write(dq.buf, dq.row(b, h, i), dqa, 0, D);
            }
          }
        }
        for (int j = 0; j < Tk; j++) {
          if (dk != null) {
            write(dk.buf, dk.row(b, hk, j), dka, j * D, D);
          }
          if (dv != null) {
            write(dv.buf, dv.row(b, hk, j), dva, j * D, D);
          }
        }
      }
    });
  }

  private static boolean sees(Buf keyMask, int b, int Tk, int j) {
    return keyMask == null || keyMask.get(b * Tk + j) != 0;
  }

  /** a . x[o .. o + n), in order. */
  private static double dot(double[] a, Buf x, int o, int n) {
    double acc = 0;
    for (int d = 0; d < n; d++) {
      acc += a[d] * x.get(o + d);
    }
    return acc;
  }

  /** dst[at .. at + n) = x[o .. o + n). */
  private static void read(Buf x, int o, double[] dst, int at, int n) {
    for (int d = 0; d < n; d++) {
      dst[at + d] = x.get(o + d);
    }
  }

  /** x[o .. o + n) = src[at .. at + n). */
  private static void write(Buf x, int o, double[] src, int at, int n) {
    for (int d = 0; d < n; d++) {
      x.set(o + d, src[at + d]);
    }
  }
}
