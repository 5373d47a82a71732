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
 * and moving the heads back, with fewer copies. Where the backend reads heads in place
 * ({@link Fused#readsHeadsInPlace}: the CPU's OpenBLAS calls, one per head with its leading
 * dimension; the CUDA backend's strided products, at sizes where they pay) Q, K and V are views
 * of qkv, (B, T, 3, H, D) read as three (B, H, T, D), and O is written through a view of y,
 * (B, T, H, D): no head is copied. Elsewhere the forward copies qkv once in head order,
 * (3, B, H, T, D), keeps that for the backward, and copies O into y. The
 * backward reads dO as a view of g and writes dQ, dK and dV straight into their windows of dqkv
 * (a backend that does not write views in place copies them there), where the slices' backward
 * filled three zero tensors of qkv's size, wrote one window of each and added the three up
 * (adding zeros changes no value: it could only turn a -0 into +0, and the products that make
 * dQ, dK and dV give +0, never -0, on the CPU; a test compares the two forms bit for bit there).
 * Composed twin: slice, reshape, permute, attention, permute, reshape. Where the backend prefers
 * it, the attention keeps each query's log-sum-exp instead of P ({@link Attention}'s flash
 * form). Every backend's flash kernels read and write heads where they lie, at every size, so
 * that form copies no head either: Q, K, V are views of qkv, O a view of y (which the backward
 * reads again for its delta = rowsum(dO ∘ O)), dO a view of g, and dQ, dK, dV are written
 * into their windows of dqkv.
 */
public final class QkvAttention extends Op {
  private final Tensor q; // (B, H, T, D): views of qkv, or its contiguous copy's parts
  private final Tensor k;
  private final Tensor v;
  private final Tensor p; // (B, H, T, T), or null in the flash form
  private final Attention.Flash flash; // the flash form's out (B, H, T, D) and lse, or null
  private final double scale;
  private final int[] xShape;

  private QkvAttention(Tensor[] qkv, Tensor p, Attention.Flash flash, double scale,
      int[] xShape) {
    this.q = qkv[0];
    this.k = qkv[1];
    this.v = qkv[2];
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
    double scale = 1.0 / Math.sqrt(D);
    int[] hs = {B, nHead, T, D};
    if (Fused.usesFlashAttention(hs, hs)) { // every backend's flash kernels read heads in place
      Tensor[] h = parts(headsOf(qkv.value(), 3 * nHead));
      Tensor y = Tensor.empty(qkv.value().dtype(), B, T, C);
      Tensor o = headsOf(y, nHead); // O (B, H, T, D), a view of y, kept for the backward's delta
      Tensor lse = Fused.flashAttention(h[0], h[1], h[2], scale, keyMask, causal, 0, o);
      QkvAttention saved = new QkvAttention(h, null,
          new Attention.Flash(o, lse, keyMask, causal, 0), scale, s);
      return record(saved, y, qkv);
    }
    if (Fused.readsHeadsInPlace(hs, hs)) { // views of qkv in, O written into y's view
      Tensor[] h = parts(headsOf(qkv.value(), 3 * nHead));
      Tensor y = Tensor.empty(qkv.value().dtype(), B, T, C);
      Tensor p = Fused.attention(h[0], h[1], h[2], scale, keyMask, causal, 0, headsOf(y, nHead));
      return record(new QkvAttention(h, p, null, scale, s), y, qkv);
    }
    Tensor[] h = contiguousHeads(qkv.value(), nHead); // one copy, kept for the backward
    Tensor[] op = Fused.attention(h[0], h[1], h[2], scale, keyMask, causal, 0); // {O, P}
    Tensor y = op[0].permute(0, 2, 1, 3).contiguous().reshape(B, T, C); // (B, T, H, D)
    return record(new QkvAttention(h, op[1], null, scale, s), y, qkv);
  }

  /**
   * Q, K and V of qkv (B, T, 3C) as contiguous (B, H, T, D): one copy, (B, T, 3, H, D) to
   * (3, B, H, T, D), whose three parts are they as they stand.
   */
  private static Tensor[] contiguousHeads(Tensor qkv, int nHead) {
    int[] s = qkv.shape();
    int D = s[2] / 3 / nHead;
    Tensor dense = qkv.reshape(s[0], s[1], 3, nHead, D).permute(2, 0, 3, 1, 4).contiguous();
    Tensor[] h = new Tensor[3];
    for (int i = 0; i < 3; i++) {
      h[i] = dense.slice(0, i, i + 1).reshape(s[0], nHead, s[1], D);
    }
    return h;
  }

  /**
   * x (B, T, n D), contiguous, read as its n heads (B, n, T, D): a view (the heads' rows are
   * n D apart).
   */
  private static Tensor headsOf(Tensor x, int n) {
    int[] s = x.shape();
    return x.reshape(s[0], s[1], n, s[2] / n).permute(0, 2, 1, 3);
  }

  /** Q, K and V of the heads (B, 3H, T, D): three views, (B, H, T, D). */
  private static Tensor[] parts(Tensor heads) {
    int h = heads.dim(1) / 3;
    return new Tensor[] {heads.slice(1, 0, h), heads.slice(1, h, 2 * h),
        heads.slice(1, 2 * h, 3 * h)};
  }

  @Override
  public String name() {
    return "qkv_attention";
  }

  /*
   * dO = g read as its heads, (B, H, T, D); dQ, dK, dV as in Attention's backward, each written
   * into its window of dqkv, read as its heads (B, 3H, T, D), which they fill.
   */
  @Override
  public Tensor[] backward(Tensor g) {
    int H = q.dim(1);
    Tensor dqkv = Tensor.empty(g.dtype(), xShape);
    Tensor[] windows = parts(headsOf(dqkv, 3 * H)); // views of dqkv, (B, H, T, D)
    Tensor g4 = headsOf(g.contiguous(), H); // a view, (B, H, T, D)
    if (flash != null) {
      Fused.flashAttentionBackward(q, k, v, flash.out(), flash.lse(), g4, scale,
          flash.keyMask(), flash.causal(), 0, windows[0], windows[1], windows[2]);
      return new Tensor[] {dqkv};
    }
    Fused.attentionBackward(q, k, v, p, g4, scale, windows[0], windows[1], windows[2]);
    return new Tensor[] {dqkv};
  }
}
