package org.sdpo.tensor;

import java.util.Arrays;

/**
 * The fused kernels as tensor functions: each checks its arguments, takes its outputs (from the
 * open workspace scope, if any) and calls the one {@link Backend} method that computes them, so
 * the autograd layer keeps the math of an op readable without touching memory. Saved statistics
 * (means, inverse standard deviations) are float64 tensors.
 */
public final class Fused {
  private Fused() {}

  private static Backend backend() {
    return Backends.current();
  }

  private static void same(String op, Tensor a, Tensor b) {
    if (!Arrays.equals(a.shape(), b.shape()) || a.dtype() != b.dtype()) {
      throw new IllegalArgumentException(op + ": shapes or dtypes differ: " + Shape.str(a.shape())
          + " " + a.dtype() + " and " + Shape.str(b.shape()) + " " + b.dtype());
    }
  }

  /** The normalisations' scale and shift: (C) for an input (..., C). */
  private static void vector(String op, Tensor x, Tensor v, String what) {
    int C = x.dim(-1);
    if (v.rank() != 1 || v.dim(0) != C) {
      throw new IllegalArgumentException(op + ": input " + Shape.str(x.shape()) + " needs a "
          + what + " of shape [" + C + "], got " + Shape.str(v.shape()));
    }
  }

  /** GELU (tanh form) of x: {y, t} with t the tanh saved for the backward. */
  public static Tensor[] gelu(Tensor x) {
    return activation(x, Backend::gelu);
  }

  /** dx of GELU from x, its saved t and the output gradient g. */
  public static Tensor geluBackward(Tensor x, Tensor t, Tensor g) {
    return activationBackward("gelu backward", x, t, g, Backend::geluBackward);
  }

  /** SiLU of x: {y, s} with s = sigmoid(x) saved for the backward. */
  public static Tensor[] silu(Tensor x) {
    return activation(x, Backend::silu);
  }

  /** dx of SiLU from x, its saved s and the output gradient g. */
  public static Tensor siluBackward(Tensor x, Tensor s, Tensor g) {
    return activationBackward("silu backward", x, s, g, Backend::siluBackward);
  }

  /** A backend's activation kernel: x, y and the saved tensor, all (N). */
  private interface ActivationKernel {
    void run(Backend be, Tensor x, Tensor y, Tensor saved);
  }

  /** Its backward kernel: x, saved, g, dx, all (N). */
  private interface ActivationBackwardKernel {
    void run(Backend be, Tensor x, Tensor saved, Tensor g, Tensor dx);
  }

  /** {y, saved} of an activation of x. */
  private static Tensor[] activation(Tensor x, ActivationKernel kernel) {
    Tensor xc = x.contiguous();
    Tensor y = Tensor.empty(xc.dtype(), xc.shape());
    Tensor saved = Tensor.empty(xc.dtype(), xc.shape());
    kernel.run(backend(), xc, y, saved);
    return new Tensor[] {y, saved};
  }

  /** dx of an activation from x, its saved tensor and the output gradient g. */
  private static Tensor activationBackward(String op, Tensor x, Tensor saved, Tensor g,
      ActivationBackwardKernel kernel) {
    Tensor gc = g.contiguous();
    same(op, x, saved);
    same(op, x, gc);
    Tensor dx = Tensor.empty(x.dtype(), x.shape());
    kernel.run(backend(), x.contiguous(), saved.contiguous(), gc, dx);
    return dx;
  }

  /** RMS norm of x (..., C) with gamma (C): {y, rstd} with rstd (rows) float64. */
  public static Tensor[] rmsNorm(Tensor x, Tensor gamma, double eps) {
    Tensor xc = x.contiguous();
    int C = xc.dim(-1);
    vector("rms_norm", xc, gamma, "weight");
    Tensor y = Tensor.empty(xc.dtype(), xc.shape());
    Tensor rstd = Tensor.empty(DType.FLOAT64, (int) (xc.numel() / C));
    backend().rmsNorm(xc, gamma.contiguous(), eps, y, rstd);
    return new Tensor[] {y, rstd};
  }

  /** {dx, dgamma} of the RMS norm. */
  public static Tensor[] rmsNormBackward(Tensor x, Tensor gamma, Tensor rstd, Tensor g) {
    Tensor gc = g.contiguous();
    same("rms_norm backward", x, gc);
    int C = x.dim(-1);
    Tensor dx = Tensor.empty(x.dtype(), x.shape());
    Tensor dgamma = Tensor.empty(x.dtype(), C);
    backend().rmsNormBackward(x.contiguous(), gamma.contiguous(), rstd, gc, dx, dgamma);
    return new Tensor[] {dx, dgamma};
  }

  /** Layer norm of x (..., C): {y, mean, rstd} with mean and rstd (rows) float64. */
  public static Tensor[] layerNorm(Tensor x, Tensor gamma, Tensor beta, double eps) {
    Tensor xc = x.contiguous();
    int C = xc.dim(-1);
    vector("layer_norm", xc, gamma, "weight");
    vector("layer_norm", xc, beta, "bias");
    int rows = (int) (xc.numel() / C);
    Tensor y = Tensor.empty(xc.dtype(), xc.shape());
    Tensor mean = Tensor.empty(DType.FLOAT64, rows);
    Tensor rstd = Tensor.empty(DType.FLOAT64, rows);
    backend().layerNorm(xc, gamma.contiguous(), beta.contiguous(), eps, y, mean, rstd);
    return new Tensor[] {y, mean, rstd};
  }

  /** {dx, dgamma, dbeta} of the layer norm. */
  public static Tensor[] layerNormBackward(Tensor x, Tensor gamma, Tensor mean, Tensor rstd,
      Tensor g) {
    Tensor gc = g.contiguous();
    same("layer_norm backward", x, gc);
    int C = x.dim(-1);
    Tensor dx = Tensor.empty(x.dtype(), x.shape());
    Tensor dgamma = Tensor.empty(x.dtype(), C);
    Tensor dbeta = Tensor.empty(x.dtype(), C);
    backend().layerNormBackward(x.contiguous(), gamma.contiguous(), mean, rstd, gc, dx, dgamma,
        dbeta);
    return new Tensor[] {dx, dgamma, dbeta};
  }

  /**
   * The rotate-half rotation of x (B, H, T, D) by the angles whose cos and sin are (B, T, D/2);
   * {@code sign} -1 applies the inverse rotation.
   */
  public static Tensor rope(Tensor x, Tensor cos, Tensor sin, int sign) {
    int[] s = x.shape();
    if (s.length != 4 || s[3] % 2 != 0 || cos.rank() != 3 || !Arrays.equals(cos.shape(),
        sin.shape()) || cos.dim(0) != s[0] || cos.dim(1) != s[2] || cos.dim(2) != s[3] / 2) {
      throw new IllegalArgumentException("rope: expected x (B, H, T, D) with D even and cos, sin"
          + " (B, T, D/2), got x " + Shape.str(s) + ", cos " + Shape.str(cos.shape()) + ", sin "
          + Shape.str(sin.shape()));
    }
    Tensor y = Tensor.empty(x.dtype(), s);
    backend().rope(x.contiguous(), cos.contiguous(), sin.contiguous(), sign, y);
    return y;
  }

  /** The softmax Jacobian-vector product over the last axis, times {@code scale}. */
  public static Tensor softmaxBackward(Tensor y, Tensor g, double scale) {
    Tensor gc = g.contiguous();
    same("softmax backward", y, gc);
    Tensor dx = Tensor.empty(y.dtype(), y.shape());
    backend().softmaxBackward(y.contiguous(), gc, scale, dx);
    return dx;
  }

  /** dx of log-softmax from its output y and the output gradient g. */
  public static Tensor logSoftmaxBackward(Tensor y, Tensor g) {
    Tensor gc = g.contiguous();
    same("log_softmax backward", y, gc);
    Tensor p = y.exp(); // the softmax, overwritten by dx
    backend().logSoftmaxBackward(p, gc, p);
    return p;
  }

  /**
   * The mean negative log-likelihood of logp (R, V) at the targets that are not
   * {@code ignoreIndex}, and how many there are: (2) float64 {loss, valid}, computed by the
   * backend (on a device, it stays there). Targets outside [0, V) are errors naming the row.
   */
  public static Tensor crossEntropy(Tensor logp, Indices targets, int ignoreIndex) {
    int V = logp.dim(-1);
    int[] ts = targets.values();
    for (int n = 0; n < ts.length; n++) {
      int t = ts[n];
      if (t != ignoreIndex && (t < 0 || t >= V)) {
        throw new IllegalArgumentException("cross_entropy: target " + t + " of row " + n
            + " is outside [0, " + V + ") and is not the ignore index " + ignoreIndex);
      }
    }
    Tensor stats = Tensor.empty(DType.FLOAT64, 2);
    backend().crossEntropyLoss(logp.contiguous(), targets, ignoreIndex, stats);
    return stats;
  }

  /**
   * dx (R, V) of the mean cross-entropy: (softmax - onehot) g / valid on rows not ignored, with g
   * the loss's gradient and stats {@link #crossEntropy}'s result.
   */
  public static Tensor crossEntropyBackward(Tensor logp, Indices targets, int ignoreIndex,
      Tensor g, Tensor stats) {
    Tensor p = logp.exp(); // the softmax, overwritten by dx
    backend().crossEntropyBackward(p, targets, ignoreIndex, g.contiguous(), stats, p);
    return p;
  }

  /** log(1 - e^x) of x &lt; 0. */
  public static Tensor log1mexp(Tensor x) {
    Tensor xc = x.contiguous();
    Tensor y = Tensor.empty(xc.dtype(), xc.shape());
    backend().log1mexp(xc, y);
    return y;
  }

  /**
   * The advantage-level blend's coefficients c (N, V) ({@link Backend#blendCoefficients}) from
   * the student's log-probabilities lp and probabilities p = exp(lp), the teacher's lq, the
   * sampled tokens (N) and lambda A_GRPO at each (tokenTerm, float64); clip null for none.
   */
  public static Tensor blendCoefficients(Tensor lp, Tensor p, Tensor lq, int[] tokens,
      double[] tokenTerm, double lambda, Double clip) {
    int N = lp.dim(0);
    if (lp.rank() != 2 || !lp.sameShape(p) || !lp.sameShape(lq) || tokens.length != N
        || tokenTerm.length != N || p.dtype() != lp.dtype() || lq.dtype() != lp.dtype()) {
      throw new IllegalArgumentException("blend coefficients: lp " + Shape.str(lp.shape())
          + ", p " + Shape.str(p.shape()) + ", lq " + Shape.str(lq.shape()) + " of one dtype, "
          + tokens.length + " tokens and " + tokenTerm.length + " token terms");
    }
    for (int t = 0; t < N; t++) {
      if (tokens[t] < 0 || tokens[t] >= lp.dim(1)) {
        throw new IllegalArgumentException("blend coefficients: token " + tokens[t]
            + " at row " + t + " is outside [0, " + lp.dim(1) + ")");
      }
    }
    Tensor c = Tensor.empty(lp.dtype(), lp.shape());
    backend().blendCoefficients(lp.contiguous(), p.contiguous(), lq.contiguous(),
        backend().indices(tokens), Tensor.of(DType.FLOAT64, tokenTerm, N), lambda,
        clip == null ? Double.POSITIVE_INFINITY : clip, c);
    return c;
  }

  /** dx of log1mexp. */
  public static Tensor log1mexpBackward(Tensor x, Tensor g) {
    Tensor gc = g.contiguous();
    same("log1mexp backward", x, gc);
    Tensor dx = Tensor.empty(x.dtype(), x.shape());
    backend().log1mexpBackward(x.contiguous(), gc, dx);
    return dx;
  }

  /**
   * The gradient (N, K) of picking x[n, idx[n*J + j]] from an (N, K) tensor, given g (N) (J = 1)
   * or (N, J).
   */
  public static Tensor pickBackward(Tensor g, Indices idx, int[] xShape) {
    int n = idx.length();
    if (xShape.length != 2 || g.numel() != n || g.dim(0) != xShape[0]
        || (g.rank() == 1 ? xShape[0] != n : g.rank() != 2)) {
      throw new IllegalArgumentException("pick backward: g " + Shape.str(g.shape()) + ", "
          + n + " indices, x " + Shape.str(xShape));
    }
    Tensor dx = Tensor.empty(g.dtype(), xShape);
    backend().pickBackward(g.contiguous(), idx, dx);
    return dx;
  }

  /** A dropout mask of the given shape: 0 with probability p, else 1 / (1 - p). */
  public static Tensor dropoutMask(DType dtype, int[] shape, double p, Rng rng) {
    Tensor mask = Tensor.empty(dtype, shape);
    backend().dropoutMask(mask, p, rng);
    return mask;
  }

  /**
   * Scaled dot-product attention ({@link Backend#attention}): q (B, H, Tq, D), k and v (B, Hkv,
   * Tk, D) with H a multiple of Hkv and Tq &lt;= Tk, keyMask (B, Tk) of 1 and 0 or null; query i
   * sits at key position queryOffset + i. Returns {out (B, H, Tq, D), p (B, H, Tq, Tk)}: the
   * output and the attention probabilities (hidden keys 0; a query that sees no key gets a row
   * of 0 and an output of 0).
   */
  public static Tensor[] attention(Tensor q, Tensor k, Tensor v, double scale, Tensor keyMask,
      boolean causal, int queryOffset) {
    Tensor out = Tensor.empty(q.dtype(), q.shape());
    return new Tensor[] {out, attention(q, k, v, scale, keyMask, causal, queryOffset, out)};
  }

  /**
   * {@link #attention} writing its output into {@code out} (B, H, Tq, D), which may be a view
   * (a GPT-2 block's output, (B, T, H, D) in memory); returns P (B, H, Tq, Tk). q, k and v may be
   * views too ({@link Backend#attention}: a backend reads them in place where it can).
   */
  public static Tensor attention(Tensor q, Tensor k, Tensor v, double scale, Tensor keyMask,
      boolean causal, int queryOffset, Tensor out) {
    checkAttention(q, k, v, keyMask, queryOffset);
    int[] qs = q.shape();
    if (!Arrays.equals(out.shape(), qs) || out.dtype() != q.dtype()) {
      throw new IllegalArgumentException("attention: out must be " + q.dtype() + " "
          + Shape.str(qs) + ", got " + out.dtype() + " " + Shape.str(out.shape()));
    }
    Tensor p = Tensor.empty(q.dtype(), qs[0], qs[1], qs[2], k.dim(2));
    backend().attention(q, k, v, scale,
        keyMask == null ? null : keyMask.to(q.dtype()).contiguous(), causal, queryOffset, p, out);
    return p;
  }

  /**
   * The gradients of {@link #attention} from its probabilities p (B, H, Tq, Tk) and g = dL/d out
   * (B, H, Tq, D) ({@link Backend#attentionBackward}), written into dq (like q), dk and dv (like
   * k); each may be null (not wanted) or a view (a GPT-2 block's windows of dL/d qkv).
   */
  public static void attentionBackward(Tensor q, Tensor k, Tensor v, Tensor p, Tensor g,
      double scale, Tensor dq, Tensor dk, Tensor dv) {
    checkAttention(q, k, v, null, 0);
    int[] qs = q.shape();
    int[] ks = k.shape();
    int[] ps = {qs[0], qs[1], qs[2], ks[2]};
    if (!Arrays.equals(g.shape(), qs) || !Arrays.equals(p.shape(), ps)
        || (dq != null && !Arrays.equals(dq.shape(), qs))
        || (dk != null && !Arrays.equals(dk.shape(), ks))
        || (dv != null && !Arrays.equals(dv.shape(), ks))) {
      throw new IllegalArgumentException("attention backward: expected p " + Shape.str(ps)
          + ", g and dq " + Shape.str(qs) + ", dk and dv " + Shape.str(ks) + "; got p "
          + Shape.str(p.shape()) + ", g " + Shape.str(g.shape()) + ", dq "
          + (dq == null ? "none" : Shape.str(dq.shape())) + ", dk "
          + (dk == null ? "none" : Shape.str(dk.shape())) + ", dv "
          + (dv == null ? "none" : Shape.str(dv.shape())));
    }
    backend().attentionBackward(q, k, v, p.contiguous(), g, scale, dq, dk, dv);
  }

  /**
   * Whether the backend's attention reads a GPT-2 block's heads where they lie
   * ({@link Backend#readsHeadsInPlace}); q (B, H, Tq, D), k (B, Hkv, Tk, D).
   */
  public static boolean readsHeadsInPlace(int[] qShape, int[] kShape) {
    return backend().readsHeadsInPlace(qShape, kShape);
  }

  /** Which form of attention the autograd ops keep for their backward pass. */
  public enum AttentionPath {
    /** The backend's choice ({@link Backend#prefersFlashAttention}). */
    AUTO,
    /** The log-sum-exp per query ({@link #flashAttention}), probabilities recomputed. */
    FLASH,
    /** The probabilities (B, H, Tq, Tk) ({@link #attention}). */
    PROBABILITIES
  }

  /** Null until first asked: read from the settings then (a bad value fails that call). */
  private static volatile AttentionPath attentionPath;

  /**
   * {@code -Dsdpo.attention} or {@code SDPO_ATTENTION}: auto (the default), flash or
   * probabilities.
   */
  private static AttentionPath attentionPathFromSettings() {
    String v = System.getProperty("sdpo.attention", System.getenv("SDPO_ATTENTION"));
    if (v == null || v.isBlank()) {
      return AttentionPath.AUTO;
    }
    try {
      return AttentionPath.valueOf(v.trim().toUpperCase(java.util.Locale.ROOT));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("sdpo.attention / SDPO_ATTENTION: expected auto, flash"
          + " or probabilities, got '" + v + "'");
    }
  }

  /**
   * Sets which form of attention the autograd ops keep (tests compare the two; null: read the
   * settings again at the next use); returns the old.
   */
  public static AttentionPath attentionPath(AttentionPath path) {
    AttentionPath old = attentionPath();
    attentionPath = path;
    return old;
  }

  private static AttentionPath attentionPath() {
    AttentionPath p = attentionPath;
    if (p == null) {
      p = attentionPathFromSettings();
      attentionPath = p;
    }
    return p;
  }

  /**
   * Whether attention over q (B, H, Tq, D) and k (B, Hkv, Tk, D) keeps the log-sum-exp
   * ({@link #flashAttention}) rather than the probabilities ({@link #attention}).
   */
  public static boolean usesFlashAttention(int[] qShape, int[] kShape) {
    switch (attentionPath()) {
      case FLASH:
        return true;
      case PROBABILITIES:
        return false;
      default:
        return backend().prefersFlashAttention(qShape, kShape);
    }
  }

  /**
   * Scaled dot-product attention keeping the log-sum-exp ({@link Backend#flashAttention}): the
   * same arguments as {@link #attention}; returns {out (B, H, Tq, D), lse (B, H, Tq)}.
   */
  public static Tensor[] flashAttention(Tensor q, Tensor k, Tensor v, double scale,
      Tensor keyMask, boolean causal, int queryOffset) {
    Tensor out = Tensor.empty(q.dtype(), q.shape());
    return new Tensor[] {out, flashAttention(q, k, v, scale, keyMask, causal, queryOffset, out)};
  }

  /**
   * {@link #flashAttention} writing its output into {@code out} (B, H, Tq, D), which may be a
   * view (a GPT-2 block's output, (B, T, H, D) in memory); returns lse (B, H, Tq). q, k and v
   * may be views too: every backend reads heads in place ({@link Backend#flashAttention}).
   */
  public static Tensor flashAttention(Tensor q, Tensor k, Tensor v, double scale,
      Tensor keyMask, boolean causal, int queryOffset, Tensor out) {
    checkAttention(q, k, v, keyMask, queryOffset);
    int[] qs = q.shape();
    if (!Arrays.equals(out.shape(), qs) || out.dtype() != q.dtype()) {
      throw new IllegalArgumentException("flash attention: out must be " + q.dtype() + " "
          + Shape.str(qs) + ", got " + out.dtype() + " " + Shape.str(out.shape()));
    }
    Tensor lse = Tensor.empty(q.dtype(), qs[0], qs[1], qs[2]);
    backend().flashAttention(q, k, v, scale,
        keyMask == null ? null : keyMask.to(q.dtype()).contiguous(), causal, queryOffset, lse,
        out);
    return lse;
  }

  /**
   * The gradients of {@link #flashAttention} ({@link Backend#flashAttentionBackward}) from
   * g = dL/d out (B, H, Tq, D): {dq (B, H, Tq, D), dk, dv (B, Hkv, Tk, D)}.
   */
  public static Tensor[] flashAttentionBackward(Tensor q, Tensor k, Tensor v, Tensor out,
      Tensor lse, Tensor g, double scale, Tensor keyMask, boolean causal, int queryOffset) {
    Tensor dq = Tensor.empty(q.dtype(), q.shape());
    Tensor dk = Tensor.empty(q.dtype(), k.shape());
    Tensor dv = Tensor.empty(q.dtype(), k.shape());
    flashAttentionBackward(q, k, v, out, lse, g, scale, keyMask, causal, queryOffset, dq, dk, dv);
    return new Tensor[] {dq, dk, dv};
  }

  /**
   * The same, written into dq (like q), dk and dv (like k), which may be views (a GPT-2 block's
   * windows of dL/d qkv), as q, k, v, out and g may be.
   */
  public static void flashAttentionBackward(Tensor q, Tensor k, Tensor v, Tensor out,
      Tensor lse, Tensor g, double scale, Tensor keyMask, boolean causal, int queryOffset,
      Tensor dq, Tensor dk, Tensor dv) {
    checkAttention(q, k, v, keyMask, queryOffset);
    int[] qs = q.shape();
    int[] ks = k.shape();
    if (!Arrays.equals(out.shape(), qs) || !Arrays.equals(g.shape(), qs)
        || !Arrays.equals(lse.shape(), new int[] {qs[0], qs[1], qs[2]})
        || !Arrays.equals(dq.shape(), qs) || !Arrays.equals(dk.shape(), ks)
        || !Arrays.equals(dv.shape(), ks)) {
      throw new IllegalArgumentException("flash attention backward: expected out, g and dq "
          + Shape.str(qs) + ", lse " + Shape.str(new int[] {qs[0], qs[1], qs[2]})
          + ", dk and dv " + Shape.str(ks) + "; got out " + Shape.str(out.shape()) + ", g "
          + Shape.str(g.shape()) + ", lse " + Shape.str(lse.shape()) + ", dq "
          + Shape.str(dq.shape()) + ", dk " + Shape.str(dk.shape()) + ", dv "
          + Shape.str(dv.shape()));
    }
    backend().flashAttentionBackward(q, k, v, out, lse.contiguous(), g.to(q.dtype()), scale,
        keyMask == null ? null : keyMask.to(q.dtype()).contiguous(), causal, queryOffset, dq, dk,
        dv);
  }

  private static void checkAttention(Tensor q, Tensor k, Tensor v, Tensor keyMask,
      int queryOffset) {
    int[] qs = q.shape();
    int[] ks = k.shape();
    if (qs.length != 4 || ks.length != 4 || !Arrays.equals(ks, v.shape()) || qs[0] != ks[0]
        || ks[1] == 0 || qs[1] % ks[1] != 0 || qs[3] != ks[3] || qs[2] > ks[2]
        || q.dtype() != k.dtype() || q.dtype() != v.dtype()) {
      throw new IllegalArgumentException("attention: expected q (B, H, Tq, D) and k, v"
          + " (B, Hkv, Tk, D) of one dtype with Tq <= Tk and H a multiple of Hkv, got q "
          + Shape.str(qs) + ", k " + Shape.str(ks) + ", v " + Shape.str(v.shape()));
    }
    int B = qs[0];
    int Tk = ks[2];
    if (keyMask != null && (keyMask.rank() != 2 || keyMask.dim(0) != B || keyMask.dim(1) != Tk)) {
      throw new IllegalArgumentException("attention: key mask must be (B, Tk) = [" + B + ", " + Tk
          + "], got " + Shape.str(keyMask.shape()));
    }
    if (queryOffset < 0 || queryOffset + qs[2] > Tk) {
      throw new IllegalArgumentException("attention: query offset " + queryOffset + " with "
          + qs[2] + " queries does not fit " + Tk + " keys");
    }
  }

  /**
   * Attention probabilities (B, H, Tq, Tk) from raw scores s (B, H, Tq, Tk): softmax over the
   * keys each query sees of {@code scale} s; hidden keys get 0, a query that sees none a row of
   * 0 ({@link Backend#attentionSoftmax}). keyMask (B, Tk) of 1 and 0, or null. With
   * {@code inPlace} the probabilities overwrite the scores (when s is contiguous; else a
   * contiguous copy of them).
   */
  public static Tensor attentionSoftmax(Tensor s, double scale, Tensor keyMask, boolean causal,
      int queryOffset, boolean inPlace) {
    if (s.rank() != 4) {
      throw new IllegalArgumentException("attention softmax: scores must be (B, H, Tq, Tk), got "
          + Shape.str(s.shape()));
    }
    int B = s.dim(0);
    int Tq = s.dim(2);
    int Tk = s.dim(3);
    if (keyMask != null && (keyMask.rank() != 2 || keyMask.dim(0) != B || keyMask.dim(1) != Tk)) {
      throw new IllegalArgumentException("attention softmax: key mask must be (B, Tk) = [" + B
          + ", " + Tk + "], got " + Shape.str(keyMask.shape()));
    }
    if (queryOffset < 0 || queryOffset + Tq > Tk) {
      throw new IllegalArgumentException("attention softmax: query offset " + queryOffset
          + " with " + Tq + " queries does not fit " + Tk + " keys");
    }
    Tensor sc = s.contiguous();
    Tensor p = inPlace ? sc : Tensor.empty(s.dtype(), s.shape());
    backend().attentionSoftmax(sc, scale, keyMask == null ? null : keyMask.contiguous(), causal,
        queryOffset, p);
    return p;
  }

  /**
   * One AdamW step on parameter p in place (m, v its moments, g its gradient), with step (3)
   * float64 {lr, bc1, bc2}.
   */
  public static void adamw(Tensor p, Tensor g, Tensor m, Tensor v, Tensor step, double beta1,
      double beta2, double eps, double weightDecay) {
    same("adamw", p, g);
    same("adamw", p, m);
    same("adamw", p, v);
    stepValues(step);
    backend().adamw(p, g, m, v, step.contiguous(), beta1, beta2, eps, weightDecay);
  }

  /** AdamW's per-step values: (3) float64 {lr, bc1, bc2}. */
  private static void stepValues(Tensor step) {
    if (step.dtype() != DType.FLOAT64 || step.numel() != 3) {
      throw new IllegalArgumentException("adamw: step values must be (3) float64 {lr, bc1, bc2},"
          + " got " + step.dtype() + " " + Shape.str(step.shape()));
    }
  }

  /** Every element of every tensor of xs = value, in one backend call (gradients zeroed). */
  public static void fill(java.util.List<Tensor> xs, double value) {
    backend().fill(xs, value);
  }

  /**
   * One AdamW step on every parameter of a list ({@link Backend#adamw(java.util.List,
   * java.util.List, java.util.List, java.util.List, Tensor, double, double, double, double[])}):
   * ps, gs, ms, vs parallel lists, weightDecay one value per parameter.
   */
  public static void adamw(java.util.List<Tensor> ps, java.util.List<Tensor> gs,
      java.util.List<Tensor> ms, java.util.List<Tensor> vs, Tensor step, double beta1,
      double beta2, double eps, double[] weightDecay) {
    int n = ps.size();
    if (gs.size() != n || ms.size() != n || vs.size() != n || weightDecay.length != n) {
      throw new IllegalArgumentException("adamw: " + n + " parameters but " + gs.size()
          + " gradients, " + ms.size() + " first and " + vs.size() + " second moments, "
          + weightDecay.length + " weight decays");
    }
    java.util.List<Tensor> contiguousGrads = new java.util.ArrayList<>(n);
    for (int i = 0; i < n; i++) {
      same("adamw", ps.get(i), gs.get(i));
      same("adamw", ps.get(i), ms.get(i));
      same("adamw", ps.get(i), vs.get(i));
      contiguousGrads.add(gs.get(i).contiguous());
    }
    stepValues(step);
    backend().adamw(ps, contiguousGrads, ms, vs, step.contiguous(), beta1, beta2, eps,
        weightDecay);
  }

  /**
   * Clips every tensor of xs (contiguous: gradients) in place by their global norm and returns
   * the norm before clipping, a float64 scalar that stays in the backend's memory (see
   * {@link Backend#clipByGlobalNorm}).
   */
  public static Tensor clipByGlobalNorm(java.util.List<Tensor> xs, double maxNorm) {
    for (Tensor x : xs) {
      if (!backend().isContiguous(x)) {
        throw new IllegalArgumentException("clip: tensor " + Shape.str(x.shape())
            + " is not contiguous and cannot be scaled in place");
      }
    }
    Tensor norm = Tensor.empty(DType.FLOAT64);
    backend().clipByGlobalNorm(xs, maxNorm, norm);
    return norm;
  }

  /** t = (1 - rate) t + rate s, in place. */
  public static void ema(Tensor t, Tensor s, double rate) {
    same("ema", t, s);
    backend().ema(t, s.contiguous(), rate);
  }

  /**
   * Samples one token per active row of logits (B, V) ({@link Backend#sampleRows}): u[b] is row
   * b's uniform draw; tokens and logprobs (B) receive the result.
   */
  public static void sampleRows(Tensor logits, boolean[] active, double temperature, int topK,
      double topP, boolean greedy, double[] u, int[] tokens, double[] logprobs) {
    int B = active.length;
    if (logits.rank() != 2 || logits.dim(0) != B || u.length != B || tokens.length != B
        || logprobs.length != B) {
      throw new IllegalArgumentException("sampleRows: logits " + Shape.str(logits.shape())
          + " for " + B + " rows");
    }
    backend().sampleRows(logits.contiguous(), active, temperature, topK, topP, greedy, u, tokens,
        logprobs);
  }

  /**
   * The indices of {@code p} by decreasing value, equal values by increasing index (the
   * sampler's order; see {@link SamplingKernels#descendingOrder}).
   */
  public static int[] descendingOrder(double[] p) {
    return SamplingKernels.descendingOrder(p);
  }
}
