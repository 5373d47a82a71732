package org.sdpo.autograd;

import org.sdpo.autograd.fused.Attention;
import org.sdpo.autograd.fused.Gelu;
import org.sdpo.autograd.fused.LayerNorm;
import org.sdpo.autograd.fused.Linear;
import org.sdpo.autograd.fused.LogSoftmax;
import org.sdpo.autograd.fused.QkvAttention;
import org.sdpo.autograd.fused.RmsNorm;
import org.sdpo.autograd.fused.Rope;
import org.sdpo.autograd.fused.Silu;
import org.sdpo.autograd.fused.Softmax;
import org.sdpo.autograd.fused.SoftmaxCrossEntropy;
import org.sdpo.autograd.ops.Abs;
import org.sdpo.autograd.ops.Add;
import org.sdpo.autograd.ops.BroadcastTo;
import org.sdpo.autograd.ops.Concat;
import org.sdpo.autograd.ops.Div;
import org.sdpo.autograd.ops.Dropout;
import org.sdpo.autograd.ops.Embedding;
import org.sdpo.autograd.ops.Exp;
import org.sdpo.autograd.ops.Log;
import org.sdpo.autograd.ops.Log1mExp;
import org.sdpo.autograd.ops.MatMul;
import org.sdpo.autograd.ops.Max;
import org.sdpo.autograd.ops.Mean;
import org.sdpo.autograd.ops.Mul;
import org.sdpo.autograd.ops.Neg;
import org.sdpo.autograd.ops.Permute;
import org.sdpo.autograd.ops.Pick;
import org.sdpo.autograd.ops.Pow;
import org.sdpo.autograd.ops.Relu;
import org.sdpo.autograd.ops.Reshape;
import org.sdpo.autograd.ops.Scale;
import org.sdpo.autograd.ops.Shift;
import org.sdpo.autograd.ops.Sigmoid;
import org.sdpo.autograd.ops.Slice;
import org.sdpo.autograd.ops.Sqrt;
import org.sdpo.autograd.ops.Sub;
import org.sdpo.autograd.ops.Sum;
import org.sdpo.autograd.ops.Tanh;
import org.sdpo.autograd.ops.Where;
import org.sdpo.tensor.Rng;
import org.sdpo.tensor.Tensor;

/**
 * The differentiable functions, one static method each (the entry point most code uses). Each
 * forwards to the op class that holds its forward and backward side by side.
 */
public final class F {
  private F() {}

  // ------------------------------------------------------------ elementwise, broadcasting

  public static Variable add(Variable a, Variable b) {
    return Add.apply(a, b);
  }

  public static Variable sub(Variable a, Variable b) {
    return Sub.apply(a, b);
  }

  public static Variable mul(Variable a, Variable b) {
    return Mul.apply(a, b);
  }

  public static Variable div(Variable a, Variable b) {
    return Div.apply(a, b);
  }

  public static Variable neg(Variable x) {
    return Neg.apply(x);
  }

  public static Variable exp(Variable x) {
    return Exp.apply(x);
  }

  public static Variable log(Variable x) {
    return Log.apply(x);
  }

  public static Variable tanh(Variable x) {
    return Tanh.apply(x);
  }

  public static Variable sigmoid(Variable x) {
    return Sigmoid.apply(x);
  }

  public static Variable relu(Variable x) {
    return Relu.apply(x);
  }

  public static Variable sqrt(Variable x) {
    return Sqrt.apply(x);
  }

  public static Variable pow(Variable x, double p) {
    return Pow.apply(x, p);
  }

  public static Variable abs(Variable x) {
    return Abs.apply(x);
  }

  /** log(1 - exp(x)) for x &lt; 0, accurate near 0 (expm1) and far below it (log1p). */
  public static Variable log1mexp(Variable x) {
    return Log1mExp.apply(x);
  }

  /** s * x; x itself for s = 1 (1 * x is x exactly, forward and backward: no copy to make). */
  public static Variable scale(Variable x, double s) {
    return s == 1.0 ? x : Scale.apply(x, s);
  }

  /** x + s. */
  public static Variable shift(Variable x, double s) {
    return Shift.apply(x, s);
  }

  /** cond ? a : b, where cond is a constant 0/1 mask. */
  public static Variable where(Tensor cond, Variable a, Variable b) {
    return Where.apply(cond, a, b);
  }

  /** Inverted dropout with drop probability p (identity if p = 0). */
  public static Variable dropout(Variable x, double p, Rng rng) {
    return p == 0 ? x : Dropout.apply(x, p, rng);
  }

  // ------------------------------------------------------------ linear algebra

  public static Variable matmul(Variable a, Variable b) {
    return MatMul.apply(a, b, false, false);
  }

  /** op(a) @ op(b), transposing the last two axes of either when asked (no copy). */
  public static Variable matmul(Variable a, Variable b, boolean transposeA, boolean transposeB) {
    return MatMul.apply(a, b, transposeA, transposeB);
  }

  /**
   * x @ w + b for x (..., in), w (in, out) (the [in, out] layout of GPT-2's Conv1D weights) and
   * b (out) or null: one matrix product over all leading axes, the bias added by the same backend
   * call ({@link Linear}).
   */
  public static Variable linear(Variable x, Variable w, Variable b) {
    return linear(x, w, false, b);
  }

  /**
   * x @ op(w) + b as {@link #linear(Variable, Variable, Variable)}, with w stored (out, in) when
   * {@code transposeW} (PyTorch's {@code nn.Linear} layout).
   */
  public static Variable linear(Variable x, Variable w, boolean transposeW, Variable b) {
    int[] s = x.shape();
    int in = s[s.length - 1];
    Variable x2 = s.length == 2 ? x : reshape(x, -1, in);
    Variable y = b == null ? matmul(x2, w, false, transposeW) // (N, out)
        : Linear.apply(x2, w, transposeW, b);
    if (s.length == 2) {
      return y;
    }
    int[] out = s.clone();
    out[out.length - 1] = w.dim(transposeW ? 0 : 1);
    return reshape(y, out);
  }

  // ------------------------------------------------------------ reductions

  public static Variable sum(Variable x) {
    return Sum.apply(x, false);
  }

  public static Variable sum(Variable x, boolean keepDims, int... axes) {
    return Sum.apply(x, keepDims, axes);
  }

  public static Variable mean(Variable x) {
    return Mean.apply(x, false);
  }

  public static Variable mean(Variable x, boolean keepDims, int... axes) {
    return Mean.apply(x, keepDims, axes);
  }

  public static Variable max(Variable x, boolean keepDims, int... axes) {
    return Max.apply(x, keepDims, axes);
  }

  // ------------------------------------------------------------ shapes and indexing

  public static Variable reshape(Variable x, int... shape) {
    return Reshape.apply(x, shape);
  }

  public static Variable permute(Variable x, int... axes) {
    return Permute.apply(x, axes);
  }

  /** Swaps two axes. */
  public static Variable transpose(Variable x, int a, int b) {
    int rank = x.value().rank();
    int[] p = new int[rank];
    for (int i = 0; i < rank; i++) {
      p[i] = i;
    }
    int ra = a < 0 ? a + rank : a;
    int rb = b < 0 ? b + rank : b;
    p[ra] = rb;
    p[rb] = ra;
    return Permute.apply(x, p);
  }

  public static Variable slice(Variable x, int axis, int start, int end) {
    return Slice.apply(x, axis, start, end);
  }

  public static Variable concat(int axis, Variable... parts) {
    return Concat.apply(axis, parts);
  }

  public static Variable broadcastTo(Variable x, int... shape) {
    return BroadcastTo.apply(x, shape);
  }

  /** Embedding lookup: rows of the (N, C) table; output idsShape + [C]. */
  public static Variable embedding(Variable table, int[] ids, int... idsShape) {
    return Embedding.apply(table, ids, idsShape);
  }

  /** y[n] = x[n, idx[n]] for a (N, K) x. */
  public static Variable pick(Variable x, int[] idx) {
    return Pick.apply(x, idx);
  }

  /**
   * y[n, j] = x[n, idx[n*J + j]] for a (N, K) x: J columns a row, (N, J) (torch.gather along the
   * last axis), with ids already in the backend's memory (say from {@link Tensor#topK}).
   */
  public static Variable pick(Variable x, org.sdpo.tensor.Indices idx, int J) {
    return Pick.apply(x, idx, J);
  }

  // ------------------------------------------------------------ fused

  public static Variable softmax(Variable x) {
    return Softmax.apply(x);
  }

  public static Variable logSoftmax(Variable x) {
    return LogSoftmax.apply(x);
  }

  /** Mean cross-entropy over rows whose target is not {@code ignoreIndex}. */
  public static Variable crossEntropy(Variable logits, int[] targets, int ignoreIndex) {
    return SoftmaxCrossEntropy.apply(logits, targets, ignoreIndex);
  }

  public static Variable layerNorm(Variable x, Variable gamma, Variable beta, double eps) {
    return LayerNorm.apply(x, gamma, beta, eps);
  }

  /** RMS normalisation over the last axis (Llama, Qwen): x / sqrt(mean(x^2) + eps) * gamma. */
  public static Variable rmsNorm(Variable x, Variable gamma, double eps) {
    return RmsNorm.apply(x, gamma, eps);
  }

  /** SiLU: x sigmoid(x) (the gate of Llama's and Qwen's SwiGLU feed-forward layer). */
  public static Variable silu(Variable x) {
    return Silu.apply(x);
  }

  /**
   * Rotary position embedding, rotate-half layout: x (B, H, T, D), cos and sin (B, T, D/2) for
   * each token's position.
   */
  public static Variable rope(Variable x, Tensor cos, Tensor sin) {
    return Rope.apply(x, cos, sin);
  }

  /** GELU, tanh approximation (GPT-2). */
  public static Variable gelu(Variable x) {
    return Gelu.apply(x);
  }

  /**
   * Scaled dot-product attention, q (B, H, Tq, D), k and v (B, Hkv, Tk, D) with H a multiple of
   * Hkv (grouped-query attention; Hkv = H is multi-head attention).
   */
  public static Variable attention(
      Variable q, Variable k, Variable v, boolean causal, Tensor keyMask) {
    return Attention.apply(q, k, v, causal, keyMask);
  }

  /**
   * Multi-head self-attention from a fused projection's output: qkv (B, T, 3C) holds Q, K and V
   * side by side (GPT-2's {@code c_attn}), each split into {@code nHead} heads; returns the heads'
   * outputs side by side, (B, T, C). keyMask (B, T) or null.
   */
  public static Variable qkvAttention(Variable qkv, int nHead, boolean causal, Tensor keyMask) {
    return QkvAttention.apply(qkv, nHead, causal, keyMask);
  }

  /** Attention with query i at key position {@code queryOffset + i} (for a KV cache). */
  public static Variable attention(Variable q, Variable k, Variable v, boolean causal,
      Tensor keyMask, int queryOffset) {
    return Attention.apply(q, k, v, causal, keyMask, queryOffset);
  }
}
