package org.sdpo.autograd.fused;

import java.util.Arrays;
import org.sdpo.autograd.Op;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.Fused;
import org.sdpo.tensor.Tensor;

/**
 * Multi-head self-attention from one fused projection's output (GPT-2's {@code c_attn}) to the
 * heads' outputs side by side, ready for the output projection:
 *
 * <pre>
 *   qkv (B, T, 3C) = [Q | K | V], each (B, T, H, D) with C = H D
 *   O = softmax(Q Kᵀ / sqrt(D) + mask) V    per batch row and head ({@link Attention})
 *   y (B, T, C)    = O with its heads side by side again
 * </pre>
 *
 * The same arithmetic as slicing Q, K and V out of qkv, moving their heads in front, attending
 * and moving the heads back, with fewer copies. The forward copies qkv once, in head order
 * (3, B, H, T, D), whose three parts are the attention's Q, K and V as they stand. The backward
 * writes dQ, dK and dV straight into their windows of dqkv, where the slices' backward filled
 * three zero tensors of qkv's size, wrote one window of each and added the three up (adding
 * zeros changes no value: it could only turn a -0 into +0, and the products that make dQ, dK and
 * dV give +0, never -0, on the CPU; a test compares the two forms bit for bit there). Composed
 * twin: slice, reshape, permute, attention, permute, reshape. Where the backend prefers it, the
 * attention keeps each query's log-sum-exp instead of P ({@link Attention}'s flash form).
 */
public final class QkvAttention extends Op {
  private final Tensor heads; // (3, B, H, T, D): Q, K, V
  private final Tensor p; // (B*H, T, T), or null in the flash form
  private final Attention.Flash flash; // the flash form's out (B, H, T, D) and lse, or null
  private final double scale;
  private final int[] xShape;

  private QkvAttention(Tensor heads, Tensor p, Attention.Flash flash, double scale,
      int[] xShape) {
    this.heads = heads;
    this.p = p;
    this.flash = flash;
    this.scale = scale;
    this.xShape = xShape;
  }

  /**
   * qkv (B, T, 3C) to (B, T, C) with {@code nHead} heads of size C / nHead. With {@code causal}
   * position i sees keys 0..i; {@code keyMask} (B, T) holds 1 for a real token, 0 for padding, or
   * is null.
   */
  public static Variable apply(Variable qkv, int nHead, boolean causal, Tensor keyMask) {
    int[] s = qkv.shape();
    if (s.length != 3 || nHead <= 0 || s[2] % (3 * nHead) != 0) {
      throw new IllegalArgumentException("qkv attention: expected qkv (B, T, 3 * heads * D) for "
          + nHead + " heads, got " + Arrays.toString(s));
    }
    int B = s[0];
    int T = s[1];
    int C = s[2] / 3;
    int D = C / nHead;
    // one copy: (B, T, 3, H, D) -> (3, B, H, T, D)
    Tensor heads = qkv.value().reshape(B, T, 3, nHead, D).permute(2, 0, 3, 1, 4).contiguous();
    double scale = 1.0 / Math.sqrt(D);
    Tensor q = part(heads, 0);
    Tensor k = part(heads, 1);
    boolean flash = Fused.usesFlashAttention(q.shape(), k.shape());
    Tensor[] op = flash
        ? Fused.flashAttention(q, k, part(heads, 2), scale, keyMask, causal, 0) // {O, lse}
        : Fused.attention(q, k, part(heads, 2), scale, keyMask, causal, 0); // {O, P}
    Tensor y = op[0].permute(0, 2, 1, 3).contiguous().reshape(B, T, C); // (B, T, H, D) as (B, T, C)
    QkvAttention saved = flash
        ? new QkvAttention(heads, null, new Attention.Flash(op[0], op[1], keyMask, causal, 0),
            scale, s)
        : new QkvAttention(heads, op[1].reshape(B * nHead, T, T), null, scale, s);
    return record(saved, y, qkv);
  }

  /** Q (i = 0), K (1) or V (2) of the heads (3, B, H, T, D): a view, (B, H, T, D). */
  private static Tensor part(Tensor heads, int i) {
    int[] s = heads.shape();
    return heads.slice(0, i, i + 1).reshape(s[1], s[2], s[3], s[4]);
  }

  @Override
  public String name() {
    return "qkv_attention";
  }

  /*
   * dO = g with its heads in front, (B, H, T, D); dQ, dK, dV as in Attention's backward, each
   * copied once into its window of dqkv (B, T, 3, H, D), which they fill.
   */
  @Override
  public Tensor[] backward(Tensor g) {
    int[] s = heads.shape(); // 3, B, H, T, D
    int B = s[1];
    int H = s[2];
    int T = s[3];
    int D = s[4];
    Tensor g4 = g.reshape(B, T, H, D).permute(0, 2, 1, 3).contiguous(); // (B, H, T, D)
    Tensor[] d;
    if (flash != null) {
      d = Fused.flashAttentionBackward(part(heads, 0), part(heads, 1), part(heads, 2),
          flash.out(), flash.lse(), g4, scale, flash.keyMask(), flash.causal(), 0);
    } else {
      Tensor q3 = part(heads, 0).reshape(B * H, T, D);
      Tensor k3 = part(heads, 1).reshape(B * H, T, D);
      Tensor v3 = part(heads, 2).reshape(B * H, T, D);
      d = Attention.gradients(q3, k3, v3, p, scale, g4.reshape(B * H, T, D), true, true, true);
    }
    Tensor dqkv = Tensor.empty(g.dtype(), xShape);
    Tensor windows = dqkv.reshape(B, T, 3, H, D).permute(2, 0, 3, 1, 4); // a view, (3, B, H, T, D)
    for (int i = 0; i < 3; i++) {
      windows.slice(0, i, i + 1).assign(d[i].reshape(1, B, H, T, D));
    }
    return new Tensor[] {dqkv};
  }
}
