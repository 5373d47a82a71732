package org.sdpo.transformer.nn;

import org.sdpo.autograd.F;
import org.sdpo.autograd.Variable;

/**
 * Gemma's gated feed-forward layer: down(gelu(gate(x)) * up(x)), C to I to C, with GELU's tanh
 * form ({@code gelu_pytorch_tanh}, the GELU GPT-2 uses).
 */
public final class GeGlu extends Module {
  public final Linear gateProj;
  public final Linear upProj;
  public final Linear downProj;

  public GeGlu(Linear gateProj, Linear upProj, Linear downProj) {
    this.gateProj = child("gate_proj", gateProj);
    this.upProj = child("up_proj", upProj);
    this.downProj = child("down_proj", downProj);
  }

  public Variable forward(Variable x) {
    return downProj.forward(F.mul(F.gelu(gateProj.forward(x)), upProj.forward(x)));
  }
}
