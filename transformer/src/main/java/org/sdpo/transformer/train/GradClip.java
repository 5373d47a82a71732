package org.sdpo.transformer.train;

import java.util.Collection;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.Fused;

/** Global-norm gradient clipping. */
public final class GradClip {
  private GradClip() {}

  /**
   * The global L2 norm of all gradients; if it exceeds {@code maxNorm} (and is finite), every
   * gradient is scaled by maxNorm / norm. A non-finite norm is returned unchanged and nothing is
   * scaled, so the caller can skip the step.
   */
  public static double clip(Collection<Variable> params, double maxNorm) {
    java.util.List<org.sdpo.tensor.Tensor> grads = new java.util.ArrayList<>(params.size());
    for (Variable p : params) {
      if (p.grad() != null) {
        grads.add(p.grad());
      }
    }
    double sq = Fused.sumOfSquares(grads, 0); // added in order, tensor after tensor
    double norm = Math.sqrt(sq);
    if (Double.isFinite(norm) && maxNorm > 0 && norm > maxNorm) {
      double scale = maxNorm / (norm + 1e-6);
      for (Variable p : params) {
        if (p.grad() != null) {
          p.grad().mulInPlace(scale);
        }
      }
    }
    return norm;
  }
}
