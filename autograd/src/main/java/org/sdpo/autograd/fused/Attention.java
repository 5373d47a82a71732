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
 * is null. A query with no visible key gets an output of 0. The masked softmax is one kernel
 * ({@link Fused#attentionSoftmax}) that skips hidden keys.
 * Composed twin: matmul, scale, where(mask, s, -1e30), softmax, matmul.
 */
public final class Attention extends Op {
  private final Tensor q;
  private final Tensor k;
  private final Tensor v;
  private final Tensor p;
  private final double scale;
  private final int[] qShape;
  private final int[] kShape;

  private Attention(Tensor q, Tensor k, Tensor v, Tensor p, double scale, int[] qShape,
      int[] kShape) {
    this.q = q;
    this.k = k;
    this.v = v;
    this.p = p;
    this.scale = scale;
    this.qShape = qShape;
    this.kShape = kShape;
  }

  public static Variable apply(Variable q, Variable k, Variable v, boolean causal, Tensor keyMask) {
    return apply(q, k, v, causal, keyMask, k.dim(2) - q.dim(2));
  }

  /** As above, with query i at key position {@code queryOffset + i}. */
  public static Variable apply(Variable q, Variable k, Variable v, boolean causal, Tensor keyMask,
      int queryOffset) {
    int[] qs = q.shape();
    int[] ks = k.shape();
    if (qs.length != 4 || ks.length != 4 || !java.util.Arrays.equals(ks, v.shape())
        || qs[0] != ks[0] || ks[1] == 0 || qs[1] % ks[1] != 0 || qs[3] != ks[3] || qs[2] > ks[2]) {
      throw new IllegalArgumentException("attention: expected q (B, H, Tq, D) and k, v"
          + " (B, Hkv, Tk, D) with Tq <= Tk and H a multiple of Hkv, got q " + java.util.Arrays.toString(qs) + ", k "
          + java.util.Arrays.toString(ks) + ", v " + java.util.Arrays.toString(v.shape()));
    }
    int B = qs[0];
    int H = qs[1];
    int Hkv = ks[1];
    int rep = H / Hkv; // query heads per key head
    int Tq = qs[2];
    int Tk = ks[2];
    int D = qs[3];
    if (keyMask != null && (keyMask.rank() != 2 || keyMask.dim(0) != B || keyMask.dim(1) != Tk)) {
      throw new IllegalArgumentException("attention: key mask must be (B, Tk) = [" + B + ", " + Tk
          + "], got " + java.util.Arrays.toString(keyMask.shape()));
    }
    if (queryOffset < 0 || queryOffset + Tq > Tk) {
      throw new IllegalArgumentException("attention: query offset " + queryOffset + " with " + Tq
          + " queries does not fit " + Tk + " keys");
    }
    double scale = 1.0 / Math.sqrt(D);
    Tensor q3 = q.value().reshape(B * Hkv, rep * Tq, D); // a group's queries side by side
    Tensor k3 = k.value().reshape(B * Hkv, Tk, D);
    Tensor v3 = v.value().reshape(B * Hkv, Tk, D);
    Tensor s = q3.matmul(k3, false, true); // Q Kᵀ: (B*Hkv, rep*Tq, Tk) = (B, H, Tq, Tk)
    // P = softmax(s / sqrt(D) + mask), in place of s: hidden keys 0, never exponentiated
    Tensor p = Fused.attentionSoftmax(s.reshape(B, H, Tq, Tk), scale, keyMask, causal,
        queryOffset, true).reshape(B * Hkv, rep * Tq, Tk);
    Tensor o = p.matmul(v3).reshape(B, H, Tq, D);
    return record(new Attention(q3, k3, v3, p, scale, qs, ks), o, q, k, v);
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
    Tensor g3 = g.reshape(q.dim(0), q.dim(1), q.dim(2)); // (B*Hkv, rep*Tq, D)
    Tensor dP = g3.matmul(v, false, true); // (B*Hkv, rep*Tq, Tk)
    Tensor dS = Softmax.backwardRows(p, dP, scale);
    return new Tensor[] {
      needsGrad(0) ? dS.matmul(k).reshape(qShape) : null,
      needsGrad(1) ? dS.matmul(q, true, false).reshape(kShape) : null,
      needsGrad(2) ? p.matmul(g3, true, false).reshape(kShape) : null
    };
  }
}
