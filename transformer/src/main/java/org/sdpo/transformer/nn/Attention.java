package org.sdpo.transformer.nn;

import org.sdpo.autograd.F;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.Tensor;

/**
 * Causal multi-head self-attention (GPT-2's {@code attn}): one fused projection to queries, keys
 * and values ({@code c_attn}, C to 3C), scaled dot-product attention per head, and the output
 * projection ({@code c_proj}).
 */
public final class Attention extends Module {
  public final Conv1D cAttn;
  public final Conv1D cProj;
  private final int nHead;
  private final int layer;

  public Attention(Conv1D cAttn, Conv1D cProj, int nHead, int layer) {
    this.cAttn = child("c_attn", cAttn);
    this.cProj = child("c_proj", cProj);
    this.nHead = nHead;
    this.layer = layer;
  }

  /**
   * x (B, T, C) to (B, T, C). {@code keyMask} (B, Tk) marks real tokens (null: all real). With a
   * cache, the T new positions attend to the cached ones too. Without one (training, scoring) the
   * attention is one op from the projection's output ({@link F#qkvAttention}); with one, Q, K and
   * V are split apart so that K and V can be stored.
   */
  public Variable forward(Variable x, Tensor keyMask, KvCache cache) {
    int B = x.dim(0);
    int T = x.dim(1);
    int C = x.dim(2);
    Variable qkv = cAttn.forward(x); // (B, T, 3C)
    if (cache == null) {
      return cProj.forward(F.qkvAttention(qkv, nHead, true, keyMask)); // (B, T, C)
    }
    Variable q = heads(F.slice(qkv, 2, 0, C), B, T); // (B, H, T, D)
    Variable k = heads(F.slice(qkv, 2, C, 2 * C), B, T);
    Variable v = heads(F.slice(qkv, 2, 2 * C, 3 * C), B, T);
    Variable y = KvCache.attend(q, k, v, keyMask, cache, layer); // (B, H, T, D)
    y = F.reshape(F.permute(y, 0, 2, 1, 3), B, T, C); // (B, T, C)
    return cProj.forward(y);
  }

  private Variable heads(Variable x, int B, int T) {
    int D = x.dim(2) / nHead;
    return F.permute(F.reshape(x, B, T, nHead, D), 0, 2, 1, 3); // (B, H, T, D)
  }
}
