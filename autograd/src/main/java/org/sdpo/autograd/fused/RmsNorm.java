package org.sdpo.autograd.fused;

import org.sdpo.autograd.Op;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.Fused;
import org.sdpo.tensor.Tensor;

/**
 * Root-mean-square normalisation over the last axis (C), as in Llama, Qwen2 and Qwen3
 * ({@code LlamaRMSNorm}): y = x * rstd * gamma with rstd = 1 / sqrt(mean_c(x^2) + eps); no mean
 * is removed and there is no shift. One pass per row forward and backward. Composed twin: mul,
 * mean, shift, sqrt, div, mul. The loops are one backend kernel each way ({@code Fused.rmsNorm}).
 */
public final class RmsNorm extends Op {
  private final Tensor x;
  private final Tensor gamma;
  private final Tensor rstd; // (rows) float64

  private RmsNorm(Tensor x, Tensor gamma, Tensor rstd) {
    this.x = x;
    this.gamma = gamma;
    this.rstd = rstd;
  }

  public static Variable apply(Variable x, Variable gamma, double eps) {
    Tensor xv = x.value().contiguous(); // shapes are checked by Fused
    Tensor[] yr = Fused.rmsNorm(xv, gamma.value(), eps); // y, rstd (saved for backward)
    return record(new RmsNorm(xv, gamma.value(), yr[1]), yr[0], x, gamma);
  }

  @Override
  public String name() {
    return "rms_norm";
  }

  /*
   * With xhat = x rstd and dxhat = dy * gamma:
   *   dgamma = sum over rows of dy * xhat
   *   dx     = rstd * (dxhat - xhat * mean_c(dxhat * xhat))
   * (the Jacobian of x / rms(x): the identity minus the projection on x, rescaled).
   */
  @Override
  public Tensor[] backward(Tensor g) {
    Tensor[] d = Fused.rmsNormBackward(x, gamma, rstd, g); // dx, dgamma
    return new Tensor[] {d[0], needsGrad(1) ? d[1] : null};
  }
}
