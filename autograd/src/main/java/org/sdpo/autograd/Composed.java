package org.sdpo.autograd;

import static org.sdpo.autograd.F.add;
import static org.sdpo.autograd.F.div;
import static org.sdpo.autograd.F.exp;
import static org.sdpo.autograd.F.log;
import static org.sdpo.autograd.F.matmul;
import static org.sdpo.autograd.F.mean;
import static org.sdpo.autograd.F.mul;
import static org.sdpo.autograd.F.reshape;
import static org.sdpo.autograd.F.scale;
import static org.sdpo.autograd.F.shift;
import static org.sdpo.autograd.F.sqrt;
import static org.sdpo.autograd.F.sub;
import static org.sdpo.autograd.F.sum;

import org.sdpo.tensor.DType;
import org.sdpo.tensor.Tensor;

/**
 * The fused ops written again from primitives only. Slower, but each line is a textbook formula
 * with its gradient from the primitives' backward: the oracle the fused ops are tested against,
 * forward and backward.
 */
public final class Composed {
  private Composed() {}

  /** exp(x - max) / sum(exp(x - max)) over the last axis (the max is a constant shift). */
  public static Variable softmax(Variable x) {
    Variable e = exp(sub(x, rowMax(x)));
    return div(e, sum(e, true, -1));
  }

  /** x - max - log(sum(exp(x - max))) over the last axis. */
  public static Variable logSoftmax(Variable x) {
    Variable shifted = sub(x, rowMax(x));
    return sub(shifted, log(sum(exp(shifted), true, -1)));
  }

  private static Variable rowMax(Variable x) {
    return Variable.constant(x.value().max(true, -1));
  }

  /** -mean over valid rows of log_softmax(x)[t], built from pick, a mask and sums. */
  public static Variable crossEntropy(Variable logits, int[] targets, int ignoreIndex) {
    int V = logits.dim(-1);
    Variable rows = reshape(logits, -1, V);
    int n = targets.length;
    int[] safe = new int[n];
    double[] valid = new double[n];
    int count = 0;
    for (int i = 0; i < n; i++) {
      boolean ok = targets[i] != ignoreIndex;
      safe[i] = ok ? targets[i] : 0;
      valid[i] = ok ? 1 : 0;
      count += ok ? 1 : 0;
    }
    Variable picked = F.pick(logSoftmax(rows), safe);
    Variable masked = mul(picked, Variable.constant(Tensor.of(logits.dtype(), valid, n)));
    return scale(sum(masked), count == 0 ? 0 : -1.0 / count);
  }

  /** (x - mean) / sqrt(var + eps) * gamma + beta over the last axis. */
  public static Variable layerNorm(Variable x, Variable gamma, Variable beta, double eps) {
    Variable centered = sub(x, mean(x, true, -1));
    Variable var = mean(mul(centered, centered), true, -1);
    Variable norm = div(centered, sqrt(shift(var, eps)));
    return add(mul(norm, gamma), beta);
  }

  /** x / sqrt(mean(x^2) + eps) * gamma over the last axis. */
  public static Variable rmsNorm(Variable x, Variable gamma, double eps) {
    Variable ms = mean(mul(x, x), true, -1);
    return mul(div(x, sqrt(shift(ms, eps))), gamma);
  }

  /** x sigmoid(x). */
  public static Variable silu(Variable x) {
    return mul(x, F.sigmoid(x));
  }

  /**
   * [x1 cos - x2 sin, x2 cos + x1 sin] with x1, x2 the halves of the last axis of x (B, H, T, D),
   * cos and sin (B, T, D/2) broadcast over the heads.
   */
  public static Variable rope(Variable x, Tensor cos, Tensor sin) {
    int B = x.dim(0);
    int T = x.dim(2);
    int half = x.dim(3) / 2;
    Variable c = Variable.constant(cos.reshape(B, 1, T, half));
    Variable s = Variable.constant(sin.reshape(B, 1, T, half));
    Variable x1 = F.slice(x, 3, 0, half);
    Variable x2 = F.slice(x, 3, half, 2 * half);
    return F.concat(3, sub(mul(x1, c), mul(x2, s)), add(mul(x2, c), mul(x1, s)));
  }

  /** x op(W) + b: a matrix product (W transposed if asked) and a bias broadcast over the rows. */
  public static Variable linear(Variable x, Variable w, boolean transposeW, Variable b) {
    return add(F.matmul(x, w, false, transposeW), b);
  }

  /** 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). */
  public static Variable gelu(Variable x) {
    Variable inner = scale(add(x, scale(mul(x, mul(x, x)), 0.044715)), Math.sqrt(2 / Math.PI));
    return mul(scale(x, 0.5), shift(F.tanh(inner), 1));
  }

  /** softmax(where(mask, q kᵀ / sqrt(D), -1e30)) v, queries being the last Tq positions. */
  public static Variable attention(Variable q, Variable k, Variable v, boolean causal,
      Tensor keyMask) {
    return attention(q, k, v, causal, keyMask, k.dim(2) - q.dim(2));
  }

  /**
   * Self-attention from qkv (B, T, 3C): Q, K and V sliced out, their heads moved in front,
   * attention, the heads moved back side by side.
   */
  public static Variable qkvAttention(Variable qkv, int nHead, boolean causal, Tensor keyMask) {
    int B = qkv.dim(0);
    int T = qkv.dim(1);
    int C = qkv.dim(2) / 3;
    Variable[] h = new Variable[3];
    for (int i = 0; i < 3; i++) {
      Variable part = reshape(F.slice(qkv, 2, i * C, (i + 1) * C), B, T, nHead, C / nHead);
      h[i] = F.permute(part, 0, 2, 1, 3); // (B, H, T, D)
    }
    Variable y = attention(h[0], h[1], h[2], causal, keyMask); // (B, H, T, D)
    return reshape(F.permute(y, 0, 2, 1, 3), B, T, C);
  }

  /** The same with query i at key position {@code queryOffset + i}. */
  public static Variable attention(Variable q, Variable k, Variable v, boolean causal,
      Tensor keyMask, int queryOffset) {
    int B = q.dim(0);
    int H = q.dim(1);
    int Tq = q.dim(2);
    int D = q.dim(3);
    int Tk = k.dim(2);
    int Hkv = k.dim(1);
    if (Hkv != H) { // grouped-query attention: each key and value head repeated H / Hkv times
      k = reshape(F.broadcastTo(reshape(k, B, Hkv, 1, Tk, D), B, Hkv, H / Hkv, Tk, D), B, H, Tk, D);
      v = reshape(F.broadcastTo(reshape(v, B, Hkv, 1, Tk, D), B, Hkv, H / Hkv, Tk, D), B, H, Tk, D);
    }
    Variable q3 = reshape(q, B * H, Tq, D);
    Variable k3 = reshape(k, B * H, Tk, D);
    Variable v3 = reshape(v, B * H, Tk, D);
    Variable s = scale(matmul(q3, k3, false, true), 1.0 / Math.sqrt(D));
    double[] mask = new double[B * Tq * Tk];
    for (int b = 0; b < B; b++) {
      for (int i = 0; i < Tq; i++) {
        for (int j = 0; j < Tk; j++) {
          boolean visible = (!causal || j <= queryOffset + i)
              && (keyMask == null || keyMask.get(b, j) != 0);
          mask[(b * Tq + i) * Tk + j] = visible ? 1 : 0;
        }
      }
    }
    DType dt = q.dtype();
    Tensor m = Tensor.of(dt, mask, B, 1, Tq, Tk);
    Variable masked = F.where(m, reshape(s, B, H, Tq, Tk), Variable.scalar(dt, -1e30));
    Variable p = reshape(softmax(masked), B * H, Tq, Tk);
    return reshape(matmul(p, v3), B, H, Tq, D);
  }
}
