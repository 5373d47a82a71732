package org.sdpo.transformer.nn;

import org.sdpo.autograd.F;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.Tensor;

/** RMS normalisation over the last axis with a learned scale (Llama's {@code LlamaRMSNorm}). */
public final class RmsNorm extends Module {
  public final Variable weight; // (C)
  private final double eps;

  public RmsNorm(Tensor weight, double eps) {
    this.weight = param("weight", weight);
    this.eps = eps;
  }

  public Variable forward(Variable x) {
    return F.rmsNorm(x, weight, eps);
  }
}
