package org.sdpo.tensor;

/**
 * The kernels a tensor backend provides. {@link Tensor} validates every argument (shapes, dtypes,
 * axes) and then calls exactly one of these methods, so an implementation may assume its inputs
 * are consistent. Outputs are always passed in, preallocated: a backend never allocates a result
 * on its own, which is what lets a training step run without new native memory.
 *
 * <p>The default implementation is {@link Nd4jBackend}; a GPU backend would implement this same
 * interface, and nothing above the tensor layer would change.
 */
public interface Backend {

  /** Elementwise binary operations with numpy broadcasting. */
  enum BinaryOp {
    ADD,
    SUB,
    MUL,
    DIV,
    /** 1 where a &gt; b, else 0. */
    GREATER,
    /** max(a, b). */
    MAX
  }

  /** Elementwise unary operations. */
  enum UnaryOp {
    NEG,
    EXP,
    LOG,
    TANH,
    SIGMOID,
    SQRT,
    ABS,
    RELU,
    SQUARE,
    RECIPROCAL,
    /** 1 where x &gt; 0, else 0 (the derivative of relu). */
    STEP
  }

  /** Elementwise operations with one scalar operand. */
  enum ScalarOp {
    ADD,
    MUL,
    POW,
    /** s - x. */
    RSUB,
    /** s / x. */
    RDIV
  }

  /** Reductions over a set of axes. */
  enum ReduceOp {
    SUM,
    MEAN,
    MAX
  }

  /** A human-readable description, logged at start-up (backend, device, BLAS). */
  String description();

  /** What a device's memory pool holds (a GPU's), or null for host memory (the CPU's). */
  default DeviceMemory deviceMemory() {
    return null;
  }

  /** Starts the peaks of {@link #deviceMemory} again from what is held now (no-op on the CPU). */
  default void resetDeviceMemoryPeaks() {}

  /**
   * Kernel launches so far, for a device backend's "launches per step" (benchmarks); -1 where the
   * backend does not launch kernels.
   */
  default long kernelLaunches() {
    return -1;
  }

  /** Whether {@link #captureStep} records steps on this backend (a GPU's CUDA graphs). */
  default boolean canCaptureSteps() {
    return false;
  }

  /**
   * Records {@code step} once, without running it, for replays (see {@link CapturedStep} for what
   * a replay sees and what stays fixed). The step runs outside any workspace scope, so the tensors
   * it makes stay valid; it must not read values back to the host or copy host data to the
   * device (an {@link IllegalStateException} names the call), except the ids it gives to
   * {@link #indices}. Backends that cannot record throw {@link UnsupportedOperationException}:
   * run the step itself there.
   */
  default CapturedStep captureStep(Runnable step) {
    throw new UnsupportedOperationException(description() + " does not record steps");
  }

  /** New uninitialised, contiguous row-major memory. */
  Storage allocate(DType dtype, int[] shape);

  /** New memory holding a copy of {@code data} (row-major), converted to {@code dtype}. */
  Storage fromDoubles(double[] data, DType dtype, int[] shape);

  /** New memory holding a copy of {@code data} (row-major), converted to {@code dtype}. */
  Storage fromFloats(float[] data, DType dtype, int[] shape);

  /** The elements of {@code t} in row-major order. */
  double[] toDoubles(Tensor t);

  /** The elements of {@code t} in row-major order, as floats. */
  float[] toFloats(Tensor t);

  /** One element by its row-major index. */
  double get(Tensor t, long flatIndex);

  /** Sets one element by its row-major index. */
  void set(Tensor t, long flatIndex, double value);

  /**
   * Copies {@code count} values from {@code src} into elements {@code [start, start + count)} of
   * {@code t} (row-major; {@code t} contiguous), converted to its dtype: how a checkpoint is
   * loaded a chunk at a time on any backend.
   */
  void write(Tensor t, int start, double[] src, int count);

  /** Copies elements {@code [start, start + count)} of {@code t} (contiguous) into {@code dst}. */
  void read(Tensor t, int start, double[] dst, int count);

  /**
   * Element access for Java kernels on host memory; {@code t} must be contiguous (see
   * {@link #isContiguous}). A backend whose memory the host cannot address (a GPU) throws
   * {@link UnsupportedOperationException}.
   */
  Buf buffer(Tensor t);

  /** True if the tensor's elements lie in row-major order with no gaps. */
  boolean isContiguous(Tensor t);

  /** A view with another shape (same number of elements); {@code t} must be contiguous. */
  Storage reshape(Tensor t, int[] shape);

  /** A view with permuted axes. */
  Storage permute(Tensor t, int[] axes);

  /** A view of {@code [start, end)} along {@code axis}. */
  Storage slice(Tensor t, int axis, int start, int end);

  /** out = src, broadcasting src to out's shape and converting dtype. */
  void assign(Tensor src, Tensor out);

  /** Every element of out = value. */
  void fill(Tensor out, double value);

  /**
   * Every element of every tensor of xs = value: a model's gradients zeroed in one call. The
   * default fills them one by one; a device backend fills them all in one launch.
   */
  default void fill(java.util.List<Tensor> xs, double value) {
    for (Tensor x : xs) {
      fill(x, value);
    }
  }

  /** out = a op b, with numpy broadcasting; out has the broadcast shape. */
  void binary(BinaryOp op, Tensor a, Tensor b, Tensor out);

  /** out = op(a). */
  void unary(UnaryOp op, Tensor a, Tensor out);

  /** out = a op s. */
  void scalar(ScalarOp op, Tensor a, double s, Tensor out);

  /** y += alpha * x (same shapes); the one sanctioned in-place accumulation. */
  void axpy(double alpha, Tensor x, Tensor y);

  /**
   * out = op(a) @ op(b), where op transposes the last two axes when asked. Rank 2, or rank 3 with
   * equal batch dimensions.
   */
  void matmul(Tensor a, Tensor b, Tensor out, boolean transposeA, boolean transposeB);

  /**
   * An affine map: out = x op(w) + bias, with x (N, K), op(w) (K, M) where op transposes w when
   * asked (w stored (M, K): PyTorch's {@code nn.Linear} layout), x and w any views, bias (M) added
   * to every row, out (N, M) contiguous.
   *
   * <p>The default multiplies into an intermediate and adds the bias with a broadcasting
   * {@link #binary}: the CPU's bits, the same as a product followed by an add. The CUDA backend
   * adds the bias in cuBLASLt's epilogue instead, so the product is written once and not read
   * back (at GPT-2's batch 8 x 1024, 25-100 MB per layer and projection).
   */
  default void linear(Tensor x, Tensor w, boolean transposeW, Tensor bias, Tensor out) {
    Tensor xw = Tensor.emptyOn(this, out.dtype(), out.shape()); // (N, M)
    matmul(x, w, xw, false, transposeW);
    binary(BinaryOp.ADD, xw, bias, out);
  }

  /** out = reduce over {@code axes} (sorted); out has the keep-dims shape. */
  void reduce(ReduceOp op, Tensor a, int[] axes, Tensor out);

  /** Softmax over the last axis. */
  void softmax(Tensor a, Tensor out);

  /**
   * Log-softmax over the last axis: a, out (R, K); out = (a - m) - log(rowsum(exp(a - m))) with
   * m = rowmax(a).
   *
   * <p>The default composes it from reductions and elementwise calls (a row max, a subtraction,
   * exp, a row sum, log, a subtraction), each result a tensor of its own: the CPU's bits. A backend
   * may fuse it; the CUDA backend reads a row twice and writes it once instead of the eight passes
   * and three full-size intermediates of the composition (at GPT-2's 8,192 x 50,257 logits, 1.6 GB
   * each).
   */
  default void logSoftmax(Tensor a, Tensor out) {
    int[] s = a.shape();
    int[] row = s.clone();
    row[s.length - 1] = 1; // (..., 1)
    int[] last = {s.length - 1};
    DType dt = a.dtype();
    Tensor max = Tensor.emptyOn(this, dt, row);
    reduce(ReduceOp.MAX, a, last, max);
    Tensor shifted = Tensor.emptyOn(this, dt, s); // a - m
    binary(BinaryOp.SUB, a, max, shifted);
    Tensor e = Tensor.emptyOn(this, dt, s);
    unary(UnaryOp.EXP, shifted, e);
    Tensor sum = Tensor.emptyOn(this, dt, row);
    reduce(ReduceOp.SUM, e, last, sum);
    Tensor logSumExp = Tensor.emptyOn(this, dt, row);
    unary(UnaryOp.LOG, sum, logSumExp);
    binary(BinaryOp.SUB, shifted, logSumExp, out);
  }

  /** out = cond != 0 ? a : b (same shapes). */
  void where(Tensor cond, Tensor a, Tensor b, Tensor out);

  /**
   * out[..., start : start + n, ...] = src along {@code axis}, n = src's size there (src has out's
   * shape elsewhere, the same dtype): a copy into a slice whose start is read from {@code start}
   * (one index) where the kernel runs, so a recorded step writes where the index says at each
   * replay (the KV cache's write position). The caller checked that the slice fits.
   */
  void assignAt(Tensor src, Tensor out, int axis, Indices start);

  /** Concatenates {@code parts} along {@code axis} into out. */
  void concat(int axis, Tensor[] parts, Tensor out);

  // ---------------------------------------------------------------- fused kernels
  // Each computes what its name says, on contiguous tensors; saved statistics are float64.
  // Legend: N any number of elements, R rows, C the last axis, B batch, H heads, T time, D head
  // size. The autograd ops keep the math readable (forward and backward side by side) and call
  // these through {@link Fused}.

  /**
   * GELU, tanh form: x, y, t (N); t = tanh(sqrt(2/pi) (x + 0.044715 x^3)) (saved for the
   * backward), y = 0.5 x (1 + t).
   */
  void gelu(Tensor x, Tensor y, Tensor t);

  /** dx = g (0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2)); all (N). */
  void geluBackward(Tensor x, Tensor t, Tensor g, Tensor dx);

  /** SiLU: x, y, s (N); s = sigmoid(x) (saved), y = x s. */
  void silu(Tensor x, Tensor y, Tensor s);

  /** dx = g s (1 + x (1 - s)); all (N). */
  void siluBackward(Tensor x, Tensor s, Tensor g, Tensor dx);

  /**
   * RMS norm over the last axis: x, y (R, C), gamma (C), rstd (R) float64;
   * rstd = 1 / sqrt(mean_c(x^2) + eps), y = x rstd gamma.
   */
  void rmsNorm(Tensor x, Tensor gamma, double eps, Tensor y, Tensor rstd);

  /**
   * x, g, dx (R, C), gamma, dgamma (C), rstd (R): with xhat = x rstd,
   * dx = rstd (g gamma - xhat mean_c(g gamma xhat)), dgamma = sum_r g xhat.
   */
  void rmsNormBackward(Tensor x, Tensor gamma, Tensor rstd, Tensor g, Tensor dx, Tensor dgamma);

  /**
   * Layer norm over the last axis: x, y (R, C), gamma, beta (C), mean, rstd (R) float64;
   * y = (x - mean) rstd gamma + beta, rstd = 1 / sqrt(var + eps) (biased variance).
   */
  void layerNorm(Tensor x, Tensor gamma, Tensor beta, double eps, Tensor y, Tensor mean,
      Tensor rstd);

  /**
   * x, g, dx (R, C), gamma, dgamma, dbeta (C), mean, rstd (R): with xhat = (x - mean) rstd and
   * dxhat = g gamma, dx = rstd (dxhat - mean_c(dxhat) - xhat mean_c(dxhat xhat)),
   * dgamma = sum_r g xhat, dbeta = sum_r g.
   */
  void layerNormBackward(Tensor x, Tensor gamma, Tensor mean, Tensor rstd, Tensor g, Tensor dx,
      Tensor dgamma, Tensor dbeta);

  /**
   * Rotary embedding, rotate-half layout: x, y (B, H, T, D), cos, sin (B, T, D/2);
   * y1 = x1 cos - x2 sin', y2 = x2 cos + x1 sin' with sin' = sign sin (sign 1 rotates, -1 undoes
   * the rotation: the backward).
   */
  void rope(Tensor x, Tensor cos, Tensor sin, int sign, Tensor y);

  /**
   * The softmax Jacobian-vector product over the last axis: y, g, dx (R, K) with y = softmax;
   * dx = scale y (g - rowsum(g y)).
   */
  void softmaxBackward(Tensor y, Tensor g, double scale, Tensor dx);

  /** p, g, dx (R, K) with p = softmax = exp(log-softmax): dx = g - p rowsum(g); dx may be p. */
  void logSoftmaxBackward(Tensor p, Tensor g, Tensor dx);

  /**
   * The mean cross-entropy from logp (R, V) = log-softmax and targets (R) in [0, V) or
   * {@code ignoreIndex}, into out (2) float64: out[0] = -(sum of logp[r, targets[r]] over the rows
   * not ignored, in row order) / their count (0 when none), out[1] = that count. On the device,
   * so a training step reads no number back to compute its loss.
   */
  void crossEntropyLoss(Tensor logp, Indices targets, int ignoreIndex, Tensor out);

  /**
   * p, dx (R, V) with p = softmax: dx = scale (p - onehot(targets)) on rows not ignored, 0 on
   * ignored ones, with scale = g / stats[1] (0 when stats[1] is 0): g the loss's gradient (a
   * scalar) and stats the (2) float64 of {@link #crossEntropyLoss}. dx may be p.
   */
  void crossEntropyBackward(Tensor p, Indices targets, int ignoreIndex, Tensor g, Tensor stats,
      Tensor dx);

  /** y = log(1 - e^x) for x &lt; 0; x, y (N). */
  void log1mexp(Tensor x, Tensor y);

  /** dx = -g / expm1(-x); all (N). */
  void log1mexpBackward(Tensor x, Tensor g, Tensor dx);

  /**
   * The advantage-level blend's coefficients (SDPO paper Eq. 3), c (N, V):
   * c[n, j] = (1 - lambda) p[n, j] a[n, j] + (j == tokens[n] ? tokenTerm[n] : 0) with
   * a = max(-clip, min(clip, lq - lp)), computed in double and rounded once to c's dtype. lp, p
   * (= exp(lp)), lq and c (N, V) of one dtype; tokenTerm (N) float64 (lambda times the GRPO
   * advantage); clip positive infinity for none.
   */
  void blendCoefficients(Tensor lp, Tensor p, Tensor lq, Indices tokens, Tensor tokenTerm,
      double lambda, double clip, Tensor c);

  /**
   * The gradient of {@link #pick}: g (N*J), dx (N, K), J = idx.length / N ids per row: dx = 0
   * except at dx[n, idx[n*J + j]], which holds the sum of the g[n*J + j] picking it, in order of
   * j (the first one stored, later repeats added).
   */
  void pickBackward(Tensor g, Indices idx, Tensor dx);

  /**
   * mask (N): 0 with probability p, else 1 / (1 - p), drawing one {@code rng.nextDouble()} per
   * element in row-major order (so a seed gives the same mask on every backend).
   */
  void dropoutMask(Tensor mask, double p, Rng rng);

  /**
   * Attention probabilities from raw scores: p[b, h, i, :] = softmax over the keys j that query
   * i sees of x_j = scale s[b, h, i, j], rounded to the dtype (as a separate multiply's output
   * would be). Query i sees key j when keyMask[b, j] != 0 (keyMask (B, Tk) of 1 for a real token
   * and 0 for padding, or null for all real) and, when causal, j &lt;= queryOffset + i. Hidden
   * keys get probability 0 exactly, and a query that sees no key a row of 0. s, p (B, H, Tq, Tk)
   * contiguous; p may be s (in place).
   */
  void attentionSoftmax(Tensor s, double scale, Tensor keyMask, boolean causal, int queryOffset,
      Tensor p);

  /**
   * Scaled dot-product attention in one call: for query i of head h,
   * p[b, h, i, :] = the attention softmax ({@link #attentionSoftmax}) of s_j = q[b, h, i, :] .
   * k[b, g, j, :], and out[b, h, i, :] = sum over the keys j it sees of p[b, h, i, j] v[b, g, j, :],
   * where g = h / (H / Hkv) is the key head query head h reads (grouped-query attention; Hkv = H
   * for ordinary multi-head attention). q (B, H, Tq, D); k, v (B, Hkv, Tk, D); keyMask (B, Tk)
   * or null; causal and queryOffset as in {@link #attentionSoftmax}; p (B, H, Tq, Tk) and out
   * (B, H, Tq, D) are written. p is contiguous; q, k, v and out may be views of any strides: a
   * GPT-2 block's heads where its projection wrote them, (B, T, 3, H, D) read as three
   * (B, H, T, D), and its output where the next projection reads it, (B, T, H, D).
   *
   * <p>The default composes it: Q Kᵀ per key head with the group's queries side by side
   * (B*Hkv, H/Hkv*Tq, D), {@link #attentionSoftmax} in place, P V, on contiguous copies of the
   * views that are not contiguous. A backend may fuse it, or read the views in place.
   */
  default void attention(Tensor q, Tensor k, Tensor v, double scale, Tensor keyMask,
      boolean causal, int queryOffset, Tensor p, Tensor out) {
    int B = q.dim(0);
    int rows = q.dim(1) / k.dim(1) * q.dim(2); // a key head's query rows
    int groups = B * k.dim(1);
    int Tk = k.dim(2);
    int D = q.dim(3);
    Tensor p3 = view(p, groups, rows, Tk);
    Tensor o = dense(out, false);
    matmul(view(dense(q, true), groups, rows, D), view(dense(k, true), groups, Tk, D), p3, false,
        true); // s = Q Kᵀ
    attentionSoftmax(p, scale, keyMask, causal, queryOffset, p);
    matmul(p3, view(dense(v, true), groups, Tk, D), view(o, groups, rows, D), false, false); // P V
    copyBack(o, out);
  }

  /**
   * The gradients of {@link #attention} from its probabilities and g = dL/d out, per key head
   * with its group's queries side by side as there, G = g (B*Hkv, H/Hkv*Tq, D):
   *
   * <pre>
   *   dV = Pᵀ G,   dP = G Vᵀ,   dS = scale P ∘ (dP - rowsum(dP ∘ P))   ({@link #softmaxBackward})
   *   dQ = dS K,   dK = dSᵀ Q
   * </pre>
   *
   * in that order (P enters its two products with nothing else reading it in between). q, g, dq
   * (B, H, Tq, D); k, v, dk, dv (B, Hkv, Tk, D); p (B, H, Tq, Tk) contiguous, as attention wrote
   * it. dq, dk, dv are written, each skipped where null. q, k, v, g, dq, dk, dv may be views of
   * any strides (as in {@link #attention}).
   *
   * <p>The default makes those products batched matrix multiplies over contiguous copies of the
   * views that are not contiguous; the results go through contiguous scratch where an output is
   * not contiguous.
   */
  default void attentionBackward(Tensor q, Tensor k, Tensor v, Tensor p, Tensor g, double scale,
      Tensor dq, Tensor dk, Tensor dv) {
    int rows = q.dim(1) / k.dim(1) * q.dim(2); // a key head's query rows
    int groups = k.dim(0) * k.dim(1);
    int Tk = k.dim(2);
    int D = q.dim(3);
    Tensor p3 = view(p, groups, rows, Tk);
    Tensor g3 = view(dense(g, true), groups, rows, D);
    if (dv != null) {
      Tensor o = dense(dv, false);
      matmul(p3, g3, view(o, groups, Tk, D), true, false); // dV = Pᵀ G
      copyBack(o, dv);
    }
    if (dq == null && dk == null) {
      return;
    }
    Tensor dP = Tensor.emptyOn(this, p.dtype(), groups, rows, Tk);
    matmul(g3, view(dense(v, true), groups, Tk, D), dP, false, true); // dP = G Vᵀ
    Tensor dS = Tensor.emptyOn(this, p.dtype(), groups, rows, Tk);
    softmaxBackward(p3, dP, scale, dS);
    if (dq != null) {
      Tensor o = dense(dq, false);
      matmul(dS, view(dense(k, true), groups, Tk, D), view(o, groups, rows, D), false, false);
      copyBack(o, dq);
    }
    if (dk != null) {
      Tensor o = dense(dk, false);
      matmul(dS, view(dense(q, true), groups, rows, D), view(o, groups, Tk, D), true, false);
      copyBack(o, dk);
    }
  }

  /**
   * t where it is contiguous; else a contiguous tensor of its shape: holding t's values if
   * {@code copy}, else to be written and then assigned to t.
   */
  private Tensor dense(Tensor t, boolean copy) {
    if (isContiguous(t)) {
      return t;
    }
    Tensor d = Tensor.emptyOn(this, t.dtype(), t.shape());
    if (copy) {
      assign(t, d);
    }
    return d;
  }

  /** Copies {@code written} (what {@link #dense} gave for t) into t, unless it is t. */
  private void copyBack(Tensor written, Tensor t) {
    if (written != t) {
      assign(written, t);
    }
  }

  /** A view of contiguous {@code t} with another shape, for composing calls. */
  private Tensor view(Tensor t, int... shape) {
    return Tensor.ofStorage(reshape(t, shape), t.dtype(), shape);
  }

  /**
   * Whether {@link #attention} and {@link #attentionBackward} of these shapes read q, k, v and g
   * and write out, dq, dk, dv as the views a GPT-2 block has them in (its projection's
   * (B, T, 3, H, D), its output's (B, T, H, D)) without copying them. Where a backend would copy
   * them (the default), the caller does better to make its heads contiguous once, in the
   * forward pass, and keep them for the backward. q (B, H, Tq, D), k (B, Hkv, Tk, D). The CPU:
   * true for multi-head attention (H = Hkv; OpenBLAS reads each head with its leading
   * dimension); the CUDA backend: true where its products over a batch row's heads are big
   * enough to pay for one launch per batch row.
   */
  default boolean readsHeadsInPlace(int[] qShape, int[] kShape) {
    return false;
  }

  /**
   * Whether attention of these shapes should keep, for its backward pass, only the log-sum-exp
   * of each query ({@link #flashAttention}, {@link #flashAttentionBackward}: memory linear in
   * the length, the probabilities recomputed tile by tile) instead of the probabilities
   * (B, H, Tq, Tk) ({@link #attention}). A backend's choice, by speed: the CPU keeps the
   * probabilities (its products are OpenBLAS's, and its recorded results come from them); the
   * CUDA backend recomputes them where its kernels take the head size. Both paths are
   * implemented by every backend and give the same values up to rounding. q (B, H, Tq, D), k
   * (B, Hkv, Tk, D).
   */
  default boolean prefersFlashAttention(int[] qShape, int[] kShape) {
    return false;
  }

  /**
   * Attention as {@link #attention} computes it, keeping instead of the probabilities
   * lse (B, H, Tq): per query, log sum_j exp(scale q . k_j) over the keys j it sees, -inf for a
   * query that sees none (whose output is 0). q (B, H, Tq, D); k, v (B, Hkv, Tk, D); keyMask,
   * causal and queryOffset as in {@link #attentionSoftmax}; lse (B, H, Tq) and out (B, H, Tq, D)
   * written. q, k, v and out may be views of any strides (a GPT-2 block's heads where its
   * projection wrote them, as {@link #attention} takes them); lse and keyMask are contiguous.
   * Every backend reads such heads in place where their head dimension is contiguous: the flash
   * kernels take a stride per batch row, head and position, which costs them nothing.
   */
  void flashAttention(Tensor q, Tensor k, Tensor v, double scale, Tensor keyMask, boolean causal,
      int queryOffset, Tensor lse, Tensor out);

  /**
   * The gradients of {@link #flashAttention} from G = dL/d out (B, H, Tq, D), the forward's out
   * and lse, with P recomputed where it is needed:
   *
   * <pre>
   *   P_ij   = exp(scale q_i . k_j - lse_i) for a key j that query i sees, else 0
   *   delta_i = G_i . out_i                       (= sum_j P_ij (G_i . v_j))
   *   dS_ij  = P_ij (G_i . v_j - delta_i)         (the softmax's backward)
   *   dq_i   = scale sum_j dS_ij k_j
   *   dk_j   = scale sum_i dS_ij q_i,  dv_j = sum_i P_ij G_i   (over the key head's query heads)
   * </pre>
   *
   * dq (B, H, Tq, D), dk and dv (B, Hkv, Tk, D) are written, not accumulated. q, k, v, out, g,
   * dq, dk and dv may be views of any strides (as in {@link #flashAttention}); lse and keyMask
   * are contiguous.
   */
  void flashAttentionBackward(Tensor q, Tensor k, Tensor v, Tensor out, Tensor lse, Tensor g,
      double scale, Tensor keyMask, boolean causal, int queryOffset, Tensor dq, Tensor dk,
      Tensor dv);

  /**
   * One AdamW step in place on p, m, v (same shapes as g): m = beta1 m + (1 - beta1) g,
   * v = beta2 v + (1 - beta2) g^2, p = p - lr (m / bc1) / (sqrt(v / bc2) + eps) - lr wd p, with
   * the values that change every step read from {@code step}, (3) float64 {lr, bc1, bc2}: a
   * device backend reads them on the device, so a recorded step replays with new ones.
   */
  void adamw(Tensor p, Tensor g, Tensor m, Tensor v, Tensor step, double beta1, double beta2,
      double eps, double weightDecay);

  /**
   * {@link #adamw} on every tensor of a list: ps, gs, ms and vs parallel (contiguous, each
   * quadruple of one shape), weightDecay one value per tensor. A model's whole update in one call.
   * The default updates them one by one, in order (the CPU's bits); a device backend updates them
   * all in one launch, element for element the same arithmetic.
   */
  default void adamw(java.util.List<Tensor> ps, java.util.List<Tensor> gs,
      java.util.List<Tensor> ms, java.util.List<Tensor> vs, Tensor step, double beta1,
      double beta2, double eps, double[] weightDecay) {
    for (int i = 0; i < ps.size(); i++) {
      adamw(ps.get(i), gs.get(i), ms.get(i), vs.get(i), step, beta1, beta2, eps, weightDecay[i]);
    }
  }

  /** acc + the squares of x's elements, added in row-major order. */
  double sumOfSquares(Tensor x, double acc);

  /**
   * acc + the squares of the elements of every tensor (contiguous), tensor after tensor: the
   * global gradient norm in one call, so a device backend reads one number back, not one per
   * tensor. The default adds them one tensor at a time with {@link #sumOfSquares(Tensor, double)}.
   */
  default double sumOfSquares(java.util.List<Tensor> xs, double acc) {
    for (Tensor x : xs) {
      acc = sumOfSquares(x, acc);
    }
    return acc;
  }

  /**
   * Clipping by the global norm, in place: norm = sqrt(the sum of the squares of the elements of
   * every tensor, tensor after tensor, as {@link #sumOfSquares(java.util.List, double)} adds
   * them); when norm is finite, maxNorm &gt; 0 and norm &gt; maxNorm, every tensor is multiplied
   * by maxNorm / (norm + 1e-6), rounded as {@link #scalar} MUL rounds. Writes norm into
   * {@code norm} (a float64 scalar). xs contiguous. The default reads the sum back and decides
   * on the host; a device backend decides on the device and reads nothing back.
   */
  default void clipByGlobalNorm(java.util.List<Tensor> xs, double maxNorm, Tensor norm) {
    double n = Math.sqrt(sumOfSquares(xs, 0));
    set(norm, 0, n);
    if (Double.isFinite(n) && maxNorm > 0 && n > maxNorm) {
      double scale = maxNorm / (n + 1e-6);
      for (Tensor x : xs) {
        scalar(ScalarOp.MUL, x, scale, x);
      }
    }
  }

  /** An exponential moving average in place: t = (1 - rate) t + rate s (same shapes). */
  void ema(Tensor t, Tensor s, double rate);

  // ---------------------------------------------------------------- gathers

  /**
   * {@code values} in this backend's memory, for the gathers and the cross-entropy kernels: a
   * copy, so later changes to the array are not seen, except by a step being recorded
   * ({@link #captureStep}), which reads the array itself again before each replay. The default
   * keeps them on the host.
   */
  default Indices indices(int[] values) {
    return Indices.host(values);
  }

  /** table (N, C), out (M, C): out[i] = table[ids[i]] (the embedding lookup). */
  void gatherRows(Tensor table, Indices ids, Tensor out);

  /** src (M, C), table (N, C): table[ids[i]] += src[i], in id order (repeats accumulate). */
  void scatterAddRows(Tensor src, Indices ids, Tensor table);

  /**
   * x (N, K), out (N*J), J = idx.length / N ids per row (1: one column per row, a target's
   * log-probability; more: torch.gather along the last axis): out[n*J + j] = x[n, idx[n*J + j]].
   */
  void pick(Tensor x, Indices idx, Tensor out);

  /**
   * The column ids (N*K) of the K largest entries of each row of x (N, V), each row's largest
   * first, equal values by increasing column id, in the order of {@link Double#compare} (a NaN
   * above every number, -0.0 below 0.0); 1 &lt;= K &lt;= V. The result stays in the backend's
   * memory (a device backend reads nothing back), bounded by V.
   */
  Indices topK(Tensor x, int K);

  /** Whether every element is finite (no NaN, no infinity). */
  boolean isFinite(Tensor t);

  // ---------------------------------------------------------------- sampling

  /**
   * One token per active row of logits (B, V): from softmax(logits / temperature) restricted to
   * the topK most likely (0: all), then to the smallest set of most likely tokens whose mass
   * reaches topP, renormalised, the token where u[b] (uniform in [0, 1)) falls in the cumulative
   * mass of the kept tokens, most likely first (ties by token id). Writes tokens[b] and the
   * token's log-probability under that distribution into logprobs[b]; greedy: the first largest
   * logit and its log-softmax at temperature 1. Inactive rows are left alone.
   */
  void sampleRows(Tensor logits, boolean[] active, double temperature, int topK, double topP,
      boolean greedy, double[] u, int[] tokens, double[] logprobs);
}
