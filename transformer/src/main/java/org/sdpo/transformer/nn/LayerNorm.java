package org.sdpo.transformer.nn;

import org.sdpo.autograd.F;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.Tensor;

/** Layer normalisation over the last axis with a learned scale and shift. */
public final class LayerNorm extends Module {
  public final Variable weight; // (C)
  public final Variable bias; // (C)
  private final double eps;

  public LayerNorm(Tensor weight, Tensor bias, double eps) {
    this.weight = param("weight", weight);
    this.bias = param("bias", bias);
    this.eps = eps;
  }

  public Variable forward(Variable x) {
    return F.layerNorm(x, weight, bias, eps);
  }
}
