package org.sdpo.autograd.fused;

import org.sdpo.autograd.Op;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.Fused;
import org.sdpo.tensor.Tensor;

/**
 * Layer normalisation over the last axis (C), as in GPT-2:
 * y = (x - mean) * rstd * gamma + beta, with rstd = 1 / sqrt(var + eps) and the biased variance.
 * One pass per row forward and backward (after llm.c's layernorm_forward/backward), one backend
 * kernel each way ({@code Fused.layerNorm}). Composed
 * twin: mean, sub, square, mean, add, sqrt, div, mul, add.
 */
public final class LayerNorm extends Op {
  private final Tensor x;
  private final Tensor gamma;
  private final Tensor mean; // (rows) float64
  private final Tensor rstd; // (rows) float64

  private LayerNorm(Tensor x, Tensor gamma, Tensor mean, Tensor rstd) {
    this.x = x;
    this.gamma = gamma;
    this.mean = mean;
    this.rstd = rstd;
  }

  public static Variable apply(Variable x, Variable gamma, Variable beta, double eps) {
    Tensor xv = x.value().contiguous();
    Tensor[] ymr = Fused.layerNorm(xv, gamma.value(), beta.value(), eps); // y, mean, rstd
    return record(new LayerNorm(xv, gamma.value(), ymr[1], ymr[2]), ymr[0], x, gamma, beta);
  }

  @Override
  public String name() {
    return "layer_norm";
  }

  /*
   * With xhat = (x - mean) rstd and dxhat = dy * gamma:
   *   dbeta  = sum over rows of dy
   *   dgamma = sum over rows of dy * xhat
   *   dx     = rstd * (dxhat - mean_c(dxhat) - xhat * mean_c(dxhat * xhat))
   * (the last line is the Jacobian of the normalisation, which removes the mean and rescales).
   */
  @Override
  public Tensor[] backward(Tensor g) {
    return Fused.layerNormBackward(x, gamma, mean, rstd, g); // dx, dgamma, dbeta
  }
}
