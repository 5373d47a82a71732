package org.sdpo.tensor;

/**
 * The CPU loops of the fused kernels ({@link Backend}'s gelu, silu, rmsNorm, layerNorm, rope and
 * their backward passes) over contiguous row-major buffers, split across threads by
 * {@link Parallel} so that each element (or each column sum) is computed in the same order
 * whatever the split: results do not depend on the thread count.
 */
final class FusedKernels {
  private FusedKernels() {}

  static final double SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
  static final double GELU_A = 0.044715;

  /** u = sqrt(2/pi) (x + 0.044715 x^3), into {@code u} (the tanh is applied by the caller). */
  static void geluInner(Buf x, Buf u) {
    boolean lanes = VectorSupport.lanes(x, u);
    Parallel.forRange(u.size(), 1, (s, e) -> {
      int i = lanes ? VectorKernels.geluInner((Buf.F32) x, (Buf.F32) u, s, e) : s;
      for (; i < e; i++) {
        double v = x.get(i);
        u.set(i, SQRT_2_OVER_PI * (v + GELU_A * v * v * v));
      }
    });
  }

  /** y = 0.5 x (1 + t). */
  static void geluOuter(Buf x, Buf t, Buf y) {
    boolean lanes = VectorSupport.lanes(x, t, y);
    Parallel.forRange(y.size(), 1, (s, e) -> {
      int i = lanes ? VectorKernels.geluOuter((Buf.F32) x, (Buf.F32) t, (Buf.F32) y, s, e) : s;
      for (; i < e; i++) {
        y.set(i, 0.5 * x.get(i) * (1 + t.get(i)));
      }
    });
  }

  /** dx = g (0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2)). */
  static void geluBackward(Buf x, Buf t, Buf g, Buf dx) {
    boolean lanes = VectorSupport.lanes(x, t, g, dx);
    Parallel.forRange(dx.size(), 2, (s, e) -> {
      int i = lanes ? VectorKernels.geluBackward((Buf.F32) x, (Buf.F32) t, (Buf.F32) g,
          (Buf.F32) dx, s, e) : s;
      for (; i < e; i++) {
        double v = x.get(i);
        double th = t.get(i);
        double dudx = SQRT_2_OVER_PI * (1 + 3 * GELU_A * v * v);
        dx.set(i, g.get(i) * (0.5 * (1 + th) + 0.5 * v * (1 - th * th) * dudx));
      }
    });
  }

  /** s = sigmoid(x), y = x s. */
  static void silu(Buf x, Buf y, Buf sig) {
    Parallel.forRange(y.size(), 1, (b, e) -> {
      for (int i = b; i < e; i++) {
        double v = x.get(i);
        double s = 1.0 / (1.0 + Math.exp(-v));
        sig.set(i, s);
        y.set(i, v * s);
      }
    });
  }

  /** dx = g s (1 + x (1 - s)). */
  static void siluBackward(Buf x, Buf sig, Buf g, Buf dx) {
    Parallel.forRange(dx.size(), 2, (b, e) -> {
      for (int i = b; i < e; i++) {
        double s = sig.get(i);
        dx.set(i, g.get(i) * s * (1 + x.get(i) * (1 - s)));
      }
    });
  }

  /** y = x rstd gamma per row of C, rstd = 1 / sqrt(mean(x^2) + eps) (saved). */
  static void rmsNorm(Buf x, Buf gamma, double eps, int C, Buf y, Buf rstd) {
    int rows = x.size() / C;
    Parallel.forRange(rows, 3 * C, (s0, e0) -> {
      for (int r = s0; r < e0; r++) {
        int o = r * C;
        double ms = 0;
        for (int c = 0; c < C; c++) {
          double v = x.get(o + c);
          ms += v * v;
        }
        double s = 1.0 / Math.sqrt(ms / C + eps);
        for (int c = 0; c < C; c++) {
          y.set(o + c, x.get(o + c) * s * gamma.get(c));
        }
        rstd.set(r, s);
      }
    });
  }

  /**
   * dx = rstd (g gamma - xhat mean_c(g gamma xhat)) per row, xhat = x rstd; dgamma = sum over
   * rows of g xhat (each column summed over the rows in order).
   */
  static void rmsNormBackward(Buf x, Buf gamma, Buf rstd, Buf g, int C, Buf dx, Buf dgamma) {
    int rows = x.size() / C;
    Parallel.forRange(rows, 4 * C, (s0, e0) -> {
      for (int r = s0; r < e0; r++) {
        int o = r * C;
        double s = rstd.get(r);
        double meanDX = 0;
        for (int c = 0; c < C; c++) {
          meanDX += g.get(o + c) * gamma.get(c) * x.get(o + c) * s;
        }
        meanDX /= C;
        for (int c = 0; c < C; c++) {
          double xhat = x.get(o + c) * s;
          dx.set(o + c, s * (g.get(o + c) * gamma.get(c) - xhat * meanDX));
        }
      }
    });
    Parallel.forRange(C, 2 * rows, (c0, c1) -> {
      double[] dg = new double[c1 - c0];
      for (int r = 0; r < rows; r++) {
        int o = r * C;
        for (int c = c0; c < c1; c++) {
          dg[c - c0] += g.get(o + c) * x.get(o + c) * rstd.get(r);
        }
      }
      for (int c = c0; c < c1; c++) {
        dgamma.set(c, dg[c - c0]);
      }
    });
  }

  /** y = (x - mean) rstd gamma + beta per row of C (biased variance); mean and rstd saved. */
  static void layerNorm(Buf x, Buf gamma, Buf beta, double eps, int C, Buf y, Buf mean, Buf rstd) {
    int rows = x.size() / C;
    boolean lanes = VectorSupport.lanes(x, gamma, beta, y);
    Parallel.forRange(rows, 4 * C, (s0, e0) -> {
      for (int r = s0; r < e0; r++) {
        int o = r * C;
        double m = 0;
        for (int c = 0; c < C; c++) {
          m += x.get(o + c);
        }
        m /= C;
        double v = 0;
        for (int c = 0; c < C; c++) {
          double d = x.get(o + c) - m;
          v += d * d;
        }
        double s = 1.0 / Math.sqrt(v / C + eps);
        int c = lanes ? VectorKernels.layerNormRow((Buf.F32) x, (Buf.F32) gamma, (Buf.F32) beta,
            m, s, (Buf.F32) y, o, C) : 0;
        for (; c < C; c++) {
          y.set(o + c, (x.get(o + c) - m) * s * gamma.get(c) + beta.get(c));
        }
        mean.set(r, m);
        rstd.set(r, s);
      }
    });
  }

  /**
   * With xhat = (x - mean) rstd and dxhat = g gamma: dx = rstd (dxhat - mean_c(dxhat) - xhat
   * mean_c(dxhat xhat)); dgamma = sum over rows of g xhat; dbeta = sum over rows of g.
   */
  static void layerNormBackward(Buf x, Buf gamma, Buf mean, Buf rstd, Buf g, int C, Buf dx,
      Buf dgamma, Buf dbeta) {
    int rows = x.size() / C;
    boolean lanes = VectorSupport.lanes(x, gamma, g, dx);
    Parallel.forRange(rows, 4 * C, (s0, e0) -> {
      for (int r = s0; r < e0; r++) {
        int o = r * C;
        double m = mean.get(r);
        double s = rstd.get(r);
        double meanD = 0;
        double meanDX = 0;
        for (int c = 0; c < C; c++) {
          double xhat = (x.get(o + c) - m) * s;
          double dxhat = g.get(o + c) * gamma.get(c);
          meanD += dxhat;
          meanDX += dxhat * xhat;
        }
        meanD /= C;
        meanDX /= C;
        int c = lanes ? VectorKernels.layerNormBackwardRow((Buf.F32) x, (Buf.F32) gamma,
            (Buf.F32) g, m, s, meanD, meanDX, (Buf.F32) dx, o, C) : 0;
        for (; c < C; c++) {
          double xhat = (x.get(o + c) - m) * s;
          dx.set(o + c, s * (g.get(o + c) * gamma.get(c) - meanD - xhat * meanDX));
        }
      }
    });
    Parallel.forRange(C, 2 * rows, (c0, c1) -> {
      double[] dg = new double[c1 - c0];
      double[] db = new double[c1 - c0];
      for (int r = 0; r < rows; r++) {
        int o = r * C;
        int c = lanes ? VectorKernels.layerNormColumnSums((Buf.F32) x, (Buf.F32) g, mean.get(r),
            rstd.get(r), o, c0, c1, dg, db) : c0;
        for (; c < c1; c++) {
          double dy = g.get(o + c);
          db[c - c0] += dy;
          dg[c - c0] += dy * (x.get(o + c) - mean.get(r)) * rstd.get(r);
        }
      }
      for (int c = c0; c < c1; c++) {
        dgamma.set(c, dg[c - c0]);
        dbeta.set(c, db[c - c0]);
      }
    });
  }

  /**
   * Rotates every pair (x1[j], x2[j]) of the halves of each head vector by +angle ({@code sign}
   * 1) or -angle (-1): x, y (B, H, T, D); cos, sin (B, T, D/2).
   */
  static void rope(Buf x, Buf cos, Buf sin, int sign, int B, int H, int T, int D, Buf y) {
    int half = D / 2;
    Parallel.forRange(B * H * T, 3 * D, (r0, r1) -> {
      for (int r = r0; r < r1; r++) {
        int b = r / (H * T);
        int t = r % T;
        int o = r * D;
        int a = (b * T + t) * half; // this token's row of cos and sin
        for (int j = 0; j < half; j++) {
          double c = cos.get(a + j);
          double sn = sign * sin.get(a + j);
          double x1 = x.get(o + j);
          double x2 = x.get(o + half + j);
          y.set(o + j, x1 * c - x2 * sn);
          y.set(o + half + j, x2 * c + x1 * sn);
        }
      }
    });
  }

  /** dx = scale y (g - rowsum(g y)) per row of K (the softmax Jacobian-vector product). */
  static void softmaxBackward(Buf y, Buf g, double scale, int K, Buf dx) {
    int rows = y.size() / K;
    boolean lanes = VectorSupport.lanes(y, g, dx);
    Parallel.forRange(rows, 2 * K, (s, e) -> {
      for (int r = s; r < e; r++) {
        int o = r * K;
        double dot = 0;
        for (int j = 0; j < K; j++) {
          dot += g.get(o + j) * y.get(o + j);
        }
        int j = lanes ? VectorKernels.softmaxBackwardRow((Buf.F32) y, (Buf.F32) g, scale, dot,
            (Buf.F32) dx, o, K) : 0;
        for (; j < K; j++) {
          dx.set(o + j, scale * y.get(o + j) * (g.get(o + j) - dot));
        }
      }
    });
  }

  /** dx = g - p rowsum(g) per row of K, p = softmax; dx may be p itself. */
  static void logSoftmaxBackward(Buf p, Buf g, int K, Buf dx) {
    int rows = p.size() / K;
    for (int r = 0; r < rows; r++) {
      int o = r * K;
      double sum = 0;
      for (int j = 0; j < K; j++) {
        sum += g.get(o + j);
      }
      for (int j = 0; j < K; j++) {
        dx.set(o + j, g.get(o + j) - p.get(o + j) * sum);
      }
    }
  }

  /**
   * out = {-(sum over rows whose target is not ignored of logp[r, target[r]]) / their count (0
   * when none), that count}, summed in row order in one pass; the targets are already checked.
   */
  static void crossEntropyLoss(Buf logp, int[] targets, int ignoreIndex, int V, Buf out) {
    double sum = 0;
    int valid = 0;
    for (int n = 0; n < targets.length; n++) {
      if (targets[n] != ignoreIndex) {
        sum -= logp.get(n * V + targets[n]);
        valid++;
      }
    }
    out.set(0, valid == 0 ? 0 : sum / valid);
    out.set(1, valid);
  }

  /** dx = scale (p - onehot(target)) on rows not ignored, 0 on ignored rows; dx may be p. */
  static void crossEntropyBackward(Buf p, int[] targets, int ignoreIndex, double scale, int V,
      Buf dx) {
    for (int n = 0; n < targets.length; n++) {
      int o = n * V;
      boolean ignored = targets[n] == ignoreIndex;
      for (int j = 0; j < V; j++) {
        dx.set(o + j, ignored ? 0 : scale * p.get(o + j));
      }
      if (!ignored) {
        dx.set(o + targets[n], dx.get(o + targets[n]) - scale);
      }
    }
  }

  private static final double LN2 = Math.log(2);

  /** y = log(1 - e^x) for x &lt; 0, by expm1 near 0 and log1p far from it. */
  static void log1mexp(Buf x, Buf y) {
    for (int i = 0, n = y.size(); i < n; i++) {
      double v = x.get(i);
      y.set(i, v > -LN2 ? Math.log(-Math.expm1(v)) : Math.log1p(-Math.exp(v)));
    }
  }

  /** dx = -g / expm1(-x). */
  static void log1mexpBackward(Buf x, Buf g, Buf dx) {
    for (int i = 0, n = dx.size(); i < n; i++) {
      dx.set(i, -g.get(i) / Math.expm1(-x.get(i)));
    }
  }

  /** {@link Backend#blendCoefficients} over rows of V: each element in double, then stored. */
  static void blendCoefficients(Buf lp, Buf p, Buf lq, int[] tokens, Buf tokenTerm, int V,
      double lambda, double clip, Buf c) {
    for (int t = 0; t < tokens.length; t++) {
      for (int j = 0; j < V; j++) {
        int i = t * V + j;
        double a = Math.max(-clip, Math.min(clip, lq.get(i) - lp.get(i)));
        c.set(i, (1 - lambda) * p.get(i) * a + (j == tokens[t] ? tokenTerm.get(t) : 0));
      }
    }
  }

  /**
   * dx (N, K) = 0 except dx[n, idx[n*J + j]] = the sum of the g[n*J + j] picking it, in order of
   * j (the first stored, repeats added); J = idx.length / N.
   */
  static void pickBackward(Buf g, int[] idx, int N, int K, Buf dx) {
    JavaKernels.fill(dx, 0);
    int J = N == 0 ? 0 : idx.length / N;
    for (int n = 0; n < N; n++) {
      int row = n * K;
      for (int j = 0; j < J; j++) {
        int i = n * J + j;
        int at = row + idx[i];
        boolean repeat = false;
        for (int e = 0; e < j; e++) {
          repeat |= idx[n * J + e] == idx[i];
        }
        dx.set(at, repeat ? dx.get(at) + g.get(i) : g.get(i));
      }
    }
  }

  /** mask = 0 with probability p, else 1 / (1 - p), one draw of {@code rng} per element in order. */
  static void dropoutMask(Buf mask, double p, Rng rng) {
    double keep = 1.0 / (1 - p);
    for (int i = 0, n = mask.size(); i < n; i++) {
      mask.set(i, rng.nextDouble() < p ? 0 : keep);
    }
  }

  /**
   * p = softmax over the keys query i sees of scale s, per row of s, p (B, H, Tq, Tk); p may be
   * s. Query i sees key j when j &lt;= queryOffset + i (causal) and keyMask[b, j] != 0 (or no
   * mask). Hidden keys are never exponentiated (half the row when causal), and get 0; a row that
   * sees no key is all 0. Bit for bit what the composed form gave (a multiply by scale, a bias of
   * -1e30 added where hidden, softmax, rows that see nothing zeroed): a hidden key's -1e30 never
   * wins the maximum, its exponential is exactly 0, and adding 0 leaves the sum unchanged.
   */
  static void attentionSoftmax(Buf s, double scale, Buf keyMask, boolean causal,
      int queryOffset, int B, int H, int Tq, int Tk, Buf p) {
    int rows = B * H * Tq;
    Parallel.forRange(rows, Tk * 8, (r0, r1) -> {
      for (int r = r0; r < r1; r++) {
        int last = causal ? queryOffset + r % Tq : Tk - 1; // keys after it are hidden
        attentionSoftmaxRow(s, scale, keyMask, r / (H * Tq) * Tk, last, r * Tk, Tk, p);
      }
    });
  }

  /**
   * One float32 row of {@link #attentionSoftmax} in place in {@code x} (Tk), keys after
   * {@code last} hidden, {@code mask} the key mask's row or null, for the fused decode step: the
   * same operations as the buffer form below, each store into x rounding to float as a store into
   * p does (FusedAttentionTest compares the two bit for bit). Not used for attentionSoftmax
   * itself: on long rows copying each row into an array and back made it slower (5.9 to 7.3 ms
   * for 8 x 8 x 256 x 256).
   */
  private static void attentionSoftmaxRow(float[] x, float[] mask, int last, int Tk,
      double scale) {
    double m = Double.NEGATIVE_INFINITY;
    for (int j = 0; j <= last; j++) {
      if (mask == null || mask[j] != 0) {
        x[j] = (float) (x[j] * scale);
        m = Math.max(m, x[j]);
      }
    }
    double sum = 0;
    for (int j = 0; j < Tk; j++) {
      if (j <= last && (mask == null || mask[j] != 0)) {
        double e = Math.exp(x[j] - m);
        x[j] = (float) e;
        sum += e;
      } else {
        x[j] = 0;
      }
    }
    if (m == Double.NEGATIVE_INFINITY) {
      return;
    }
    double inv = 1 / sum;
    for (int j = 0; j <= last; j++) {
      x[j] = (float) (x[j] * inv);
    }
  }

  /**
   * One row of {@link #attentionSoftmax}: p[o .. o + Tk) from s[o .. o + Tk), keys after
   * {@code last} hidden, the key mask's row at {@code mo}.
   */
  private static void attentionSoftmaxRow(Buf s, double scale, Buf keyMask, int mo, int last,
      int o, int Tk, Buf p) {
    // x_j = scale s_j, stored (so rounded to the dtype) in p; m = max over the visible x_j
    double m = Double.NEGATIVE_INFINITY;
    for (int j = 0; j <= last; j++) {
      if (keyMask == null || keyMask.get(mo + j) != 0) {
        p.set(o + j, s.get(o + j) * scale);
        m = Math.max(m, p.get(o + j));
      }
    }
    // e_j = exp(x_j - m), summed in key order; a hidden key's 0 would add nothing
    double sum = 0;
    for (int j = 0; j < Tk; j++) {
      if (j <= last && (keyMask == null || keyMask.get(mo + j) != 0)) {
        double e = Math.exp(p.get(o + j) - m);
        p.set(o + j, e);
        sum += e;
      } else {
        p.set(o + j, 0);
      }
    }
    if (m == Double.NEGATIVE_INFINITY) {
      return; // no visible key: the row stays 0
    }
    double inv = 1 / sum;
    for (int j = 0; j <= last; j++) {
      p.set(o + j, p.get(o + j) * inv);
    }
  }

  /**
   * Attention in one pass per query row ({@link Backend#attention}), float32: q (B, H, Tq, D), k,
   * v (B, Hkv, Tk, D), p (B, H, Tq, Tk), out (B, H, Tq, D). Per row: the scores of the keys up to
   * the last one it sees, written into p; {@link #attentionSoftmaxRow} on them in place; out the
   * sum over the keys it sees of p_j v_j. Keys after the last visible one (a KV cache's unfilled
   * tail) cost nothing, and rows split across threads with each row's order fixed.
   *
   * <p>Every dot product is a chain of float32 fused multiply-adds in index order from +0:
   * s_j = fma(q_D-1, k_j,D-1, ... fma(q_0, k_j,0, 0)), out_d = fma(p_last, v_last,d, ... ). That
   * is how OpenBLAS sums a float32 product of one to three rows with an inner size up to 320
   * (its Haswell kernels; beyond that it splits the inner sum), so on such a machine a decode
   * step (one query per row) gives bit for bit what the composed form gives: the composed P V
   * adds only zeros more (p_j = 0 for a hidden key), and adding +-0 to a chain that starts from
   * +0 never changes it.
   */
  static void attention(Buf.F32 q, Buf.F32 k, Buf.F32 v, double scale, Buf.F32 keyMask,
      boolean causal, int queryOffset, int B, int H, int Hkv, int Tq, int Tk, int D, Buf.F32 p,
      Buf.F32 out) {
    int rep = H / Hkv; // query heads per key head
    boolean lanes = VectorSupport.active;
    Parallel.forRange(B * H * Tq, 4 * Tk * D + 8 * Tk, (r0, r1) -> {
      float[] qa = new float[D];
      float[] oa = new float[D];
      float[] sa = new float[Tk];
      float[] kva = new float[Tk * D]; // a key head's keys, then its values
      float[] mask = keyMask == null ? null : new float[Tk];
      for (int r = r0; r < r1; r++) {
        int b = r / (H * Tq);
        int kv = (b * Hkv + r / Tq % H / rep) * Tk * D; // k[b, g, 0, 0], g the key head
        int last = causal ? queryOffset + r % Tq : Tk - 1;
        if (mask != null) {
          keyMask.get(b * Tk, mask, Tk);
          while (last >= 0 && mask[last] == 0) {
            last--; // the unfilled tail of a KV cache, padding at the end
          }
        }
        int n = last + 1; // keys 0 .. last
        // s_j = q . k_j for the keys up to the last one it sees; the rest of the row is 0
        q.get(r * D, qa, D);
        k.get(kv, kva, n * D);
        dots(qa, kva, D, n, sa);
        java.util.Arrays.fill(sa, n, Tk, 0f);
        attentionSoftmaxRow(sa, mask, last, Tk, scale);
        p.put(r * Tk, sa, Tk);
        // out = sum of p_j v_j over the keys it sees, in key order
        v.get(kv, kva, n * D);
        java.util.Arrays.fill(oa, 0f);
        for (int j = 0; j < n; j++) {
          if (mask == null || mask[j] != 0) {
            fmaInto(lanes, sa[j], kva, j * D, oa, D);
          }
        }
        out.put(r * D, oa, D);
      }
    });
  }

  /**
   * s[j] = q . k[j D .. (j + 1) D) for j &lt; n, each a float32 fused multiply-add chain over d in
   * order from +0. Eight keys at a time, so eight chains are in flight at once.
   */
  private static void dots(float[] q, float[] k, int D, int n, float[] s) {
    int j = 0;
    for (; j + 8 <= n; j += 8) {
      int o = j * D;
      float a0 = 0f, a1 = 0f, a2 = 0f, a3 = 0f, a4 = 0f, a5 = 0f, a6 = 0f, a7 = 0f;
      for (int d = 0; d < D; d++) {
        float qd = q[d];
        a0 = Math.fma(qd, k[o + d], a0);
        a1 = Math.fma(qd, k[o + D + d], a1);
        a2 = Math.fma(qd, k[o + 2 * D + d], a2);
        a3 = Math.fma(qd, k[o + 3 * D + d], a3);
        a4 = Math.fma(qd, k[o + 4 * D + d], a4);
        a5 = Math.fma(qd, k[o + 5 * D + d], a5);
        a6 = Math.fma(qd, k[o + 6 * D + d], a6);
        a7 = Math.fma(qd, k[o + 7 * D + d], a7);
      }
      s[j] = a0;
      s[j + 1] = a1;
      s[j + 2] = a2;
      s[j + 3] = a3;
      s[j + 4] = a4;
      s[j + 5] = a5;
      s[j + 6] = a6;
      s[j + 7] = a7;
    }
    for (; j < n; j++) {
      int o = j * D;
      float a = 0f;
      for (int d = 0; d < D; d++) {
        a = Math.fma(q[d], k[o + d], a);
      }
      s[j] = a;
    }
  }

  /** y[j] = fma(a, x[xo + j], y[j]) for j &lt; n, in vector lanes where they run. */
  private static void fmaInto(boolean lanes, float a, float[] x, int xo, float[] y, int n) {
    int j = lanes ? VectorKernels.fmaInto(a, x, xo, y, n) : 0;
    for (; j < n; j++) {
      y[j] = Math.fma(a, x[xo + j], y[j]);
    }
  }

  /**
   * One AdamW step in place: m = b1 m + (1 - b1) g, v = b2 v + (1 - b2) g^2,
   * p -= lr (m / bc1) / (sqrt(v / bc2) + eps) + lr wd p.
   */
  static void adamw(Buf p, Buf g, Buf m, Buf v, double lr, double beta1, double beta2,
      double eps, double wd, double bc1, double bc2) {
    boolean vector = p.size() >= VECTOR_ADAMW_MIN && VectorSupport.lanes(p, g, m, v);
    Parallel.forRange(p.size(), 8, (from, to) -> {
      if (vector) {
        VectorKernels.adamw((Buf.F32) p, (Buf.F32) g, (Buf.F32) m, (Buf.F32) v, lr, beta1, beta2,
            eps, wd, bc1, bc2, from, to);
      } else {
        adamwScalar(p, g, m, v, lr, beta1, beta2, eps, wd, bc1, bc2, from, to);
      }
    });
  }

  /**
   * The smallest tensor AdamW updates in vector lanes; below it (biases, norm scales) the scalar
   * loop runs. It was 2^17 while the JVM ran G1, whose young generation grew by ~200 MB on the
   * vector kernel's boxed vectors before it was compiled; under the serial collector ({@code
   * ./sdpo}) the demo's peak is the same either way (bench/README.md).
   */
  static final int VECTOR_ADAMW_MIN = 1 << 12;

  /** AdamW on elements [from, to), the scalar loop (the vector kernel's reference). */
  static void adamwScalar(Buf p, Buf g, Buf m, Buf v, double lr, double beta1, double beta2,
      double eps, double wd, double bc1, double bc2, int from, int to) {
    for (int i = from; i < to; i++) {
      double gi = g.get(i);
      double mi = beta1 * m.get(i) + (1 - beta1) * gi;
      double vi = beta2 * v.get(i) + (1 - beta2) * gi * gi;
      m.set(i, mi);
      v.set(i, vi);
      double pi = p.get(i);
      p.set(i, pi - lr * (mi / bc1) / (Math.sqrt(vi / bc2) + eps) - lr * wd * pi);
    }
  }

  /** acc + x_0^2 + x_1^2 + ..., added in order. */
  static double sumOfSquares(Buf x, double acc) {
    for (int i = 0, n = x.size(); i < n; i++) {
      double v = x.get(i);
      acc += v * v;
    }
    return acc;
  }

  /** t = (1 - rate) t + rate s, in place. */
  static void ema(Buf t, Buf s, double rate) {
    for (int i = 0, n = t.size(); i < n; i++) {
      t.set(i, (1 - rate) * t.get(i) + rate * s.get(i));
    }
  }

  static void gatherRows(Buf table, int[] ids, int C, Buf out) {
    for (int i = 0; i < ids.length; i++) {
      int from = ids[i] * C;
      int to = i * C;
      for (int c = 0; c < C; c++) {
        out.set(to + c, table.get(from + c));
      }
    }
  }

  static void scatterAddRows(Buf src, int[] ids, int C, Buf table) {
    for (int i = 0; i < ids.length; i++) {
      int to = ids[i] * C;
      int from = i * C;
      for (int c = 0; c < C; c++) {
        table.set(to + c, table.get(to + c) + src.get(from + c));
      }
    }
  }

  /** out[n*J + j] = x[n, idx[n*J + j]] of x (N, K); J = idx.length / N. */
  static void pick(Buf x, int[] idx, int N, int K, Buf out) {
    int J = N == 0 ? 0 : idx.length / N;
    for (int i = 0; i < idx.length; i++) {
      out.set(i, x.get(i / J * K + idx[i]));
    }
  }

  /**
   * A key whose signed order is {@link Double#compare}'s order of the values: the bits, with the
   * lower 63 flipped for negative numbers, every NaN as the one canonical NaN (above +infinity).
   */
  static long orderKey(double v) {
    long b = Double.doubleToLongBits(v); // canonical NaN
    return b ^ ((b >> 63) & Long.MAX_VALUE);
  }

  /**
   * The column ids (N*K) of each row's K largest entries of x (N, V), largest first, equal values
   * by increasing id ({@link Backend#topK}): per row, a heap of the K best seen so far, its root
   * the worst of them, so O(V log K) a row.
   */
  static int[] topK(Buf x, int N, int V, int K) {
    int[] out = new int[N * K];
    long[] keys = new long[K];
    int[] ids = new int[K];
    for (int n = 0; n < N; n++) {
      int row = n * V;
      int size = 0;
      for (int c = 0; c < V; c++) {
        long key = orderKey(x.get(row + c));
        if (size < K) { // sift up
          int i = size++;
          while (i > 0 && worse(key, c, keys[(i - 1) / 2], ids[(i - 1) / 2])) {
            keys[i] = keys[(i - 1) / 2];
            ids[i] = ids[(i - 1) / 2];
            i = (i - 1) / 2;
          }
          keys[i] = key;
          ids[i] = c;
        } else if (worse(keys[0], ids[0], key, c)) { // replaces the worst, sift down
          siftDown(keys, ids, size, key, c);
        }
      }
      // the heap emptied worst first fills the row from its end
      for (int k = K - 1; k >= 0; k--) {
        out[n * K + k] = ids[0];
        size--;
        if (size > 0) {
          siftDown(keys, ids, size, keys[size], ids[size]);
        }
      }
    }
    return out;
  }

  /** Whether (ka, a) comes after (kb, b) in top-K order: a smaller key, or equal and a larger id. */
  private static boolean worse(long ka, int a, long kb, int b) {
    return ka < kb || (ka == kb && a > b);
  }

  /** Puts (key, id) at the root of a heap of {@code size} (the worst at the root) and sinks it. */
  private static void siftDown(long[] keys, int[] ids, int size, long key, int id) {
    int i = 0;
    while (true) {
      int l = 2 * i + 1;
      if (l >= size) {
        break;
      }
      int w = l + 1 < size && worse(keys[l + 1], ids[l + 1], keys[l], ids[l]) ? l + 1 : l;
      if (!worse(keys[w], ids[w], key, id)) {
        break;
      }
      keys[i] = keys[w];
      ids[i] = ids[w];
      i = w;
    }
    keys[i] = key;
    ids[i] = id;
  }

  static boolean isFinite(Buf b) {
    for (int i = 0, n = b.size(); i < n; i++) {
      if (!Double.isFinite(b.get(i))) {
        return false;
      }
    }
    return true;
  }
}
