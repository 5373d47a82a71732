package org.sdpo.transformer.nn;

import org.sdpo.autograd.F;
import org.sdpo.autograd.Variable;

/** The SwiGLU feed-forward layer of Llama and Qwen: down(silu(gate(x)) * up(x)), C to I to C. */
public final class SwiGlu extends Module {
  public final Linear gateProj;
  public final Linear upProj;
  public final Linear downProj;

  public SwiGlu(Linear gateProj, Linear upProj, Linear downProj) {
    this.gateProj = child("gate_proj", gateProj);
    this.upProj = child("up_proj", upProj);
    this.downProj = child("down_proj", downProj);
  }

  public Variable forward(Variable x) {
    return downProj.forward(F.mul(F.silu(gateProj.forward(x)), upProj.forward(x)));
  }
}
