package org.sdpo.transformer.nn;

import org.sdpo.autograd.F;
import org.sdpo.autograd.Variable;

/**
 * The gated feed-forward layer, down(act(gate(x)) * up(x)), C to I to C: SwiGLU (act = silu) in
 * Llama, Mistral and Qwen, GeGLU (act = GELU's tanh form, {@code gelu_pytorch_tanh}) in Gemma.
 */
public final class GatedMlp extends Module {
  /** The gate's activation. */
  public enum Activation {
    SILU,
    GELU_TANH
  }

  public final Linear gateProj;
  public final Linear upProj;
  public final Linear downProj;
  private final Activation act;

  public GatedMlp(Linear gateProj, Linear upProj, Linear downProj, Activation act) {
    this.gateProj = child("gate_proj", gateProj);
    this.upProj = child("up_proj", upProj);
    this.downProj = child("down_proj", downProj);
    this.act = act;
  }

  public Variable forward(Variable x) {
    Variable g = gateProj.forward(x);
    g = act == Activation.SILU ? F.silu(g) : F.gelu(g);
    return downProj.forward(F.mul(g, upProj.forward(x)));
  }
}
