package org.sdpo.transformer.nn;

import org.sdpo.autograd.F;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.Tensor;

/**
 * Llama-family causal self-attention ({@code self_attn}): separate projections to H query heads
 * and Hkv key and value heads of size D ({@code q_proj}, {@code k_proj}, {@code v_proj}), an
 * optional RMSNorm of queries and keys ({@code q_norm}, {@code k_norm}: of each head in Qwen3 and
 * Gemma 3, of the whole projection in OLMo 2), the rotary embedding on queries and keys,
 * grouped-query attention, and {@code o_proj} back to C.
 */
public final class GqaAttention extends Module {
  public final Linear qProj;
  public final Linear kProj;
  public final Linear vProj;
  public final Linear oProj;
  public final RmsNorm qNorm; // or null
  public final RmsNorm kNorm; // or null
  private final int nHead;
  private final int nKvHead;
  private final int layer;
  private final boolean normOverHeads;

  public GqaAttention(Linear qProj, Linear kProj, Linear vProj, Linear oProj, RmsNorm qNorm,
      RmsNorm kNorm, int nHead, int nKvHead, int layer) {
    this(qProj, kProj, vProj, oProj, qNorm, kNorm, nHead, nKvHead, layer, false);
  }

  /** @param normOverHeads q_norm and k_norm normalise the whole projection (OLMo 2) */
  public GqaAttention(Linear qProj, Linear kProj, Linear vProj, Linear oProj, RmsNorm qNorm,
      RmsNorm kNorm, int nHead, int nKvHead, int layer, boolean normOverHeads) {
    this.qProj = child("q_proj", qProj);
    this.kProj = child("k_proj", kProj);
    this.vProj = child("v_proj", vProj);
    this.oProj = child("o_proj", oProj);
    this.qNorm = qNorm == null ? null : child("q_norm", qNorm);
    this.kNorm = kNorm == null ? null : child("k_norm", kNorm);
    this.nHead = nHead;
    this.nKvHead = nKvHead;
    this.layer = layer;
    this.normOverHeads = normOverHeads;
  }

  /**
   * x (B, T, C) to (B, T, C); cos and sin (B, T, D/2) for the tokens' positions; keyMask (B, Tk)
   * or null. With a cache, the T new positions attend to the cached ones too (keys are cached
   * after the rotation).
   */
  public Variable forward(Variable x, Tensor cos, Tensor sin, Tensor keyMask, KvCache cache) {
    int B = x.dim(0);
    int T = x.dim(1);
    Variable q = heads(qProj.forward(x), qNorm, nHead, B, T); // (B, H, T, D)
    Variable k = heads(kProj.forward(x), kNorm, nKvHead, B, T); // (B, Hkv, T, D)
    Variable v = heads(vProj.forward(x), null, nKvHead, B, T); // (B, Hkv, T, D)
    q = F.rope(q, cos, sin);
    k = F.rope(k, cos, sin);
    Variable y = KvCache.attend(q, k, v, keyMask, cache, layer); // (B, H, T, D)
    int D = y.dim(3);
    y = F.reshape(F.permute(y, 0, 2, 1, 3), B, T, nHead * D); // (B, T, H*D)
    return oProj.forward(y);
  }

  /**
   * (B, T, n*D) to (B, n, T, D), normalised first if {@code norm} is given: over all n*D values
   * of a position (OLMo 2), or each head over its D.
   */
  private Variable heads(Variable x, RmsNorm norm, int n, int B, int T) {
    if (norm != null && normOverHeads) {
      x = norm.forward(x); // (B, T, n*D)
    }
    Variable h = F.reshape(x, B, T, n, x.dim(2) / n); // (B, T, n, D)
    if (norm != null && !normOverHeads) {
      h = norm.forward(h);
    }
    return F.permute(h, 0, 2, 1, 3); // (B, n, T, D)
  }
}
