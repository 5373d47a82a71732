package org.sdpo.transformer.nn;

import org.sdpo.autograd.F;
import org.sdpo.autograd.Variable;

/** GPT-2's feed-forward layer: C to 4C, tanh GELU, 4C to C. */
public final class Mlp extends Module {
  public final Conv1D cFc;
  public final Conv1D cProj;

  public Mlp(Conv1D cFc, Conv1D cProj) {
    this.cFc = child("c_fc", cFc);
    this.cProj = child("c_proj", cProj);
  }

  public Variable forward(Variable x) {
    return cProj.forward(F.gelu(cFc.forward(x)));
  }
}
