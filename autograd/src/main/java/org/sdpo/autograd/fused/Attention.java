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
 * delta_i = dO_i . O_i, dS = P ∘ (dO Vᵀ - delta), and the same three products.
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
    Tensor qc = q.value().contiguous();
    Tensor kc = k.value().contiguous();
    Tensor vc = v.value().contiguous();
    double scale = 1.0 / Math.sqrt(qc.dim(3));
    int[] qs = qc.shape(); // B, H, Tq, D
    int[] ks = kc.shape(); // B, Hkv, Tk, D
    if (Fused.usesFlashAttention(qs, ks)) { // keeps lse (B, H, Tq) instead of P
      Tensor[] op = Fused.flashAttention(qc, kc, vc, scale, keyMask, causal, queryOffset);
      Flash f = new Flash(op[0], op[1], keyMask, causal, queryOffset);
      return record(new Attention(qc, kc, vc, null, scale, qs, ks, f), op[0], q, k, v);
    }
    Tensor[] op = Fused.attention(qc, kc, vc, scale, keyMask, causal, queryOffset);
    int groups = ks[0] * ks[1];
    int rows = qs[1] / ks[1] * qs[2]; // a key head's queries side by side
    Tensor q3 = qc.reshape(groups, rows, qs[3]);
    Tensor k3 = kc.reshape(groups, ks[2], ks[3]);
    Tensor v3 = vc.reshape(groups, ks[2], ks[3]);
    Tensor p = op[1].reshape(groups, rows, ks[2]);
    return record(new Attention(q3, k3, v3, p, scale, qs, ks, null), op[0], q, k, v);
  }

  @Override
  public String name() {
    return "attention";
  }

  /*
   * With G = dO (B*Hkv, rep*Tq, D):
   *   dV = Pᵀ G,   dP = G Vᵀ,   dS = P ∘ (dP - rowsum(dP ∘ P)) / sqrt(D)   (softmax backward)
   *   dQ = dS K,   dK = dSᵀ Q
   * Masked entries have P = 0, so they receive no gradient.
   */
  @Override
  public Tensor[] backward(Tensor g) {
    if (flash != null) { // q, k, v kept as they came, 4-D
      Tensor[] d = Fused.flashAttentionBackward(q, k, v, flash.out(), flash.lse(), g, scale,
          flash.keyMask(), flash.causal(), flash.queryOffset());
      for (int i = 0; i < 3; i++) {
        d[i] = needsGrad(i) ? d[i] : null;
      }
      return d;
    }
    Tensor g3 = g.reshape(q.dim(0), q.dim(1), q.dim(2)); // (B*Hkv, rep*Tq, D)
    Tensor[] d = gradients(q, k, v, p, scale, g3, needsGrad(0), needsGrad(1), needsGrad(2));
    return new Tensor[] {
      d[0] == null ? null : d[0].reshape(qShape),
      d[1] == null ? null : d[1].reshape(kShape),
      d[2] == null ? null : d[2].reshape(kShape)
    };
  }

  /**
   * dQ, dK, dV (each as its operand, 3-D) from the saved forward, q3 (B*Hkv, rep*Tq, D), k3 and
   * v3 (B*Hkv, Tk, D), p (B*Hkv, rep*Tq, Tk), and G = dO (B*Hkv, rep*Tq, D); null where not
   * asked for. Also the backward of {@link QkvAttention}.
   */
  static Tensor[] gradients(Tensor q3, Tensor k3, Tensor v3, Tensor p, double scale, Tensor g3,
      boolean dq, boolean dk, boolean dv) {
    // dV first: P then enters its two products (P V, Pᵀ G) with nothing reading it in between,
    // which lets the CUDA backend's bf16 mode round it once (its cast cache)
    Tensor dV = dv ? p.matmul(g3, true, false) : null;
    Tensor dP = g3.matmul(v3, false, true); // (B*Hkv, rep*Tq, Tk)
    Tensor dS = Softmax.backwardRows(p, dP, scale);
    return new Tensor[] {dq ? dS.matmul(k3) : null, dk ? dS.matmul(q3, true, false) : null, dV};
  }
}
