package org.sdpo.tensor;

/**
 * Attention that keeps the log-sum-exp of each query instead of its probabilities
 * ({@link Backend#flashAttention}, {@link Backend#flashAttentionBackward}), as plain Java loops
 * over host buffers in double: the CPU backend's implementation, and the Java twin of the CUDA
 * kernels on the fake device. Shapes: q (B, H, Tq, D), k and v (B, Hkv, Tk, D), keyMask (B, Tk)
 * or null, lse (B, H, Tq); query head h reads key head h / (H / Hkv). Query i of a row sees key j
 * when j &lt;= queryOffset + i (with {@code causal}) and keyMask[b, j] != 0.
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
   */
  public static void forward(Buf q, Buf k, Buf v, double scale, Buf keyMask, boolean causal,
      int queryOffset, int B, int H, int Hkv, int Tq, int Tk, int D, Buf lse, Buf out) {
    int rep = H / Hkv;
    Parallel.forRange(B * H * Tq, 4 * Tk * D, (r0, r1) -> {
      double[] qa = new double[D];
      double[] s = new double[Tk];
      double[] o = new double[D];
      for (int r = r0; r < r1; r++) {
        int b = r / (H * Tq);
        int i = r % Tq;
        int kv = (b * Hkv + r / Tq % H / rep) * Tk; // first key of the key head
        int last = causal ? Math.min(Tk - 1, queryOffset + i) : Tk - 1;
        read(q, r * D, qa, D);
        double m = Double.NEGATIVE_INFINITY;
        for (int j = 0; j <= last; j++) {
          if (sees(keyMask, b, Tk, j)) {
            s[j] = scale * dot(qa, k, (kv + j) * D, D);
            m = Math.max(m, s[j]);
          }
        }
        java.util.Arrays.fill(o, 0);
        if (m == Double.NEGATIVE_INFINITY) { // a query that sees no key
          lse.set(r, Double.NEGATIVE_INFINITY);
          write(out, r * D, o, D);
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
            int vo = (kv + j) * D;
            for (int d = 0; d < D; d++) {
              o[d] += p * v.get(vo + d);
            }
          }
        }
        lse.set(r, logSum);
        write(out, r * D, o, D);
      }
    });
  }

  /**
   * dq, dk, dv from g = dL/d out and the forward's out and lse ({@link
   * Backend#flashAttentionBackward}): one task per key head, which owns its dk and dv and its
   * query heads' dq rows. delta_i = g_i . out_i is computed from {@code out}, or read from
   * {@code delta} (B, H, Tq) when {@code out} is null; a null dq, or null dk and dv, is not
   * written (the CUDA kernels' twins compute them in separate launches).
   */
  public static void backward(Buf q, Buf k, Buf v, Buf out, Buf delta, Buf lse, Buf g,
      double scale, Buf keyMask, boolean causal, int queryOffset, int B, int H, int Hkv, int Tq,
      int Tk, int D, Buf dq, Buf dk, Buf dv) {
    int rep = H / Hkv;
    Parallel.forRange(B * Hkv, 8 * rep * Tq * Tk * D, (g0, g1) -> {
      double[] qa = new double[D];
      double[] ga = new double[D];
      double[] dqa = new double[D];
      double[] dka = new double[Tk * D];
      double[] dva = new double[Tk * D];
      for (int grp = g0; grp < g1; grp++) {
        int b = grp / Hkv;
        int kv = grp * Tk; // first key of the key head
        java.util.Arrays.fill(dka, 0);
        java.util.Arrays.fill(dva, 0);
        for (int h = grp % Hkv * rep; h < (grp % Hkv + 1) * rep; h++) {
          for (int i = 0; i < Tq; i++) {
            int r = (b * H + h) * Tq + i;
            java.util.Arrays.fill(dqa, 0);
            double logSum = lse.get(r);
            if (logSum != Double.NEGATIVE_INFINITY) {
              read(q, r * D, qa, D);
              read(g, r * D, ga, D);
              double deltaI = out != null ? dot(ga, out, r * D, D) : delta.get(r);
              int last = causal ? Math.min(Tk - 1, queryOffset + i) : Tk - 1;
              for (int j = 0; j <= last; j++) {
                if (!sees(keyMask, b, Tk, j)) {
                  continue;
                }
                int ko = (kv + j) * D;
                double p = Math.exp(scale * dot(qa, k, ko, D) - logSum);
                double ds = p * (dot(ga, v, ko, D) - deltaI);
                for (int d = 0; d < D; d++) {
                  dqa[d] += scale * ds * k.get(ko + d);
                  dka[j * D + d] += scale * ds * qa[d];
                  dva[j * D + d] += p * ga[d];
                }
              }
            }
            if (dq != null) {
              write(dq, r * D, dqa, D);
            }
          }
        }
        if (dk != null) {
          write(dk, kv * D, dka, Tk * D);
          write(dv, kv * D, dva, Tk * D);
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

  private static void read(Buf x, int o, double[] dst, int n) {
    for (int d = 0; d < n; d++) {
      dst[d] = x.get(o + d);
    }
  }

  private static void write(Buf x, int o, double[] src, int n) {
    for (int d = 0; d < n; d++) {
      x.set(o + d, src[d]);
    }
  }
}
