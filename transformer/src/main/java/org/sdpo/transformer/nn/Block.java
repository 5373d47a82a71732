package org.sdpo.transformer.nn;

import org.sdpo.autograd.F;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.Tensor;

/** A pre-LayerNorm transformer block: x + attn(ln_1(x)), then x + mlp(ln_2(x)). */
public final class Block extends Module {
  public final LayerNorm ln1;
  public final Attention attn;
  public final LayerNorm ln2;
  public final Mlp mlp;

  public Block(LayerNorm ln1, Attention attn, LayerNorm ln2, Mlp mlp) {
    this.ln1 = child("ln_1", ln1);
    this.attn = child("attn", attn);
    this.ln2 = child("ln_2", ln2);
    this.mlp = child("mlp", mlp);
  }

  public Variable forward(Variable x, Tensor keyMask, KvCache cache) {
    x = F.add(x, attn.forward(ln1.forward(x), keyMask, cache));
    return F.add(x, mlp.forward(ln2.forward(x)));
  }
}
