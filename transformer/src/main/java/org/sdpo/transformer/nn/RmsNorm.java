package org.sdpo.transformer.nn;

import org.sdpo.autograd.F;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.Tensor;

/**
 * RMS normalisation over the last axis with a learned scale: Llama's {@code LlamaRMSNorm}
 * (x / rms(x) * w), or Gemma's, whose weights are offsets from one (x / rms(x) * (1 + w), the
 * one added in the weight's dtype as Gemma3RMSNorm adds it).
 */
public final class RmsNorm extends Module {
  public final Variable weight; // (C)
  private final double eps;
  private final boolean unitOffset;

  public RmsNorm(Tensor weight, double eps) {
    this(weight, eps, false);
  }

  /** @param unitOffset Gemma's scale 1 + w */
  public RmsNorm(Tensor weight, double eps, boolean unitOffset) {
    this.weight = param("weight", weight);
    this.eps = eps;
    this.unitOffset = unitOffset;
  }

  public Variable forward(Variable x) {
    return F.rmsNorm(x, unitOffset ? F.shift(weight, 1.0) : weight, eps);
  }
}
