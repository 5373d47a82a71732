package org.sdpo.autograd.fused;

import org.sdpo.autograd.Op;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.Fused;
import org.sdpo.tensor.Tensor;

/**
 * Scaled dot-product attention with a causal mask and a key padding mask, as one fused op:
 *
 * <pre>
 *   S = Q Kᵀ / sqrt(D)             (B*H, Tq, Tk)
 *   P = softmax(S + mask)          masked keys get probability 0
 *   O = P V                        (B*H, Tq, D)
 * </pre>
 *
 * Q is (B, H, Tq, D); K and V are (B, Hkv, Tk, D) with Tq &lt;= Tk, where H is a multiple of Hkv:
 * with grouped-query attention (Llama, Qwen) query heads g*H/Hkv .. (g+1)*H/Hkv - 1 share key
 * and value head g. The group's queries are laid side by side, (B*Hkv, H/Hkv*Tq, D), so one
 * batched product per key head serves all of them and dK, dV sum over the group by the same
 * product; with Hkv = H this is ordinary multi-head attention. Query i sits at key position
 * {@code queryOffset + i}; with {@code causal} it may look at keys 0 .. queryOffset + i. The
 * default offset Tk - Tq makes the queries the last Tq positions (Tq = Tk in training); a KV cache
 * passes the number of cached positions, so its keys can be the whole preallocated cache, the
 * unused tail masked out. {@code keyMask} (B, Tk) holds 1 for a real token and 0 for padding, or
 * is null. A query with no visible key gets an output of 0. The forward pass is one backend call
 * ({@link Fused#attention}): batched products around a masked softmax that skips hidden keys, or,
 * where a backend fuses it (the CPU's decode step, one query per row), one pass per query.
 * Composed twin: matmul, scale, where(mask, s, -1e30), softmax, matmul.
 *
 * <p>Where the backend prefers it ({@link Fused#usesFlashAttention}), the op keeps each query's
 * log-sum-exp instead of P and its backward recomputes P tile by tile
 * ({@link Fused#flashAttentionBackward}; the flash form, memory linear in the length):
 * delta_i = dO_i . O_i, dS = P ∘ (dO Vᵀ - delta), and the same three products. That form takes
 * q, k and v as they come, views included (a Llama block's V is its projection read as heads):
 * every backend's flash kernels read heads where they lie.
 */
public final class Attention extends Op {
  private final Tensor q;
  private final Tensor k;
  private final Tensor v;
  private final Tensor p;
  private final double scale;
  private final int[] qShape;
  private final int[] kShape;
  /** What the flash form keeps instead of p (null in the probabilities' form). */
  private final Flash flash;

  /** The flash form's saved forward: its output, log-sum-exp and masks. */
  record Flash(Tensor out, Tensor lse, Tensor keyMask, boolean causal, int queryOffset) {}

  private Attention(Tensor q, Tensor k, Tensor v, Tensor p, double scale, int[] qShape,
      int[] kShape, Flash flash) {
    this.q = q;
    this.k = k;
    this.v = v;
    this.p = p;
    this.scale = scale;
    this.qShape = qShape;
    this.kShape = kShape;
    this.flash = flash;
  }

  public static Variable apply(Variable q, Variable k, Variable v, boolean causal, Tensor keyMask) {
    return apply(q, k, v, causal, keyMask, k.dim(2) - q.dim(2));
  }

  /** As above, with query i at key position {@code queryOffset + i}. */
  public static Variable apply(Variable q, Variable k, Variable v, boolean causal, Tensor keyMask,
      int queryOffset) {
    // O = softmax(Q Kᵀ / sqrt(D) + mask) V in one backend call (it checks the shapes); P kept
    int[] qs = q.shape(); // B, H, Tq, D
    int[] ks = k.shape(); // B, Hkv, Tk, D
    double scale = 1.0 / Math.sqrt(qs[3]);
    if (Fused.usesFlashAttention(qs, ks)) { // keeps lse (B, H, Tq) instead of P
      // every backend's flash kernels read heads where they lie (a permuted projection's view)
      Tensor qv = q.value();
      Tensor kv = k.value();
      Tensor vv = v.value();
      Tensor[] op = Fused.flashAttention(qv, kv, vv, scale, keyMask, causal, queryOffset);
      Flash f = new Flash(op[0], op[1], keyMask, causal, queryOffset);
      return record(new Attention(qv, kv, vv, null, scale, qs, ks, f), op[0], q, k, v);
    }
    Tensor qc = q.value().contiguous();
    Tensor kc = k.value().contiguous();
    Tensor vc = v.value().contiguous();
    Tensor[] op = Fused.attention(qc, kc, vc, scale, keyMask, causal, queryOffset);
    return record(new Attention(qc, kc, vc, op[1], scale, qs, ks, null), op[0], q, k, v);
  }

  @Override
  public String name() {
    return "attention";
  }

  /*
   * With G = dO, per key head with its group's queries side by side, (B*Hkv, rep*Tq, D):
   *   dV = Pᵀ G,   dP = G Vᵀ,   dS = P ∘ (dP - rowsum(dP ∘ P)) / sqrt(D)   (softmax backward)
   *   dQ = dS K,   dK = dSᵀ Q
   * Masked entries have P = 0, so they receive no gradient. One backend call
   * (Fused.attentionBackward), dV first: P then enters its two products (P V, Pᵀ G) with nothing
   * reading it in between, which lets the CUDA backend's bf16 mode round it once (its cast cache).
   */
  @Override
  public Tensor[] backward(Tensor g) {
    if (flash != null) { // q, k, v kept as they came, 4-D, views or not
      Tensor[] d = Fused.flashAttentionBackward(q, k, v, flash.out(), flash.lse(), g, scale,
          flash.keyMask(), flash.causal(), flash.queryOffset());
      for (int i = 0; i < 3; i++) {
        d[i] = needsGrad(i) ? d[i] : null;
      }
      return d;
    }
    Tensor dq = needsGrad(0) ? Tensor.empty(q.dtype(), qShape) : null;
    Tensor dk = needsGrad(1) ? Tensor.empty(k.dtype(), kShape) : null;
    Tensor dv = needsGrad(2) ? Tensor.empty(v.dtype(), kShape) : null;
    Fused.attentionBackward(q, k, v, p, g, scale, dq, dk, dv);
    return new Tensor[] {dq, dk, dv};
  }
}
