package org.sdpo.transformer.train;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.Fused;
import org.sdpo.tensor.Tensor;

/** Global-norm gradient clipping. */
public final class GradClip {
  private GradClip() {}

  /**
   * The global L2 norm of all gradients; if it exceeds {@code maxNorm} (and is finite), every
   * gradient is scaled by maxNorm / (norm + 1e-6). A non-finite norm is returned unchanged and
   * nothing is scaled, so the caller can skip the step.
   */
  public static double clip(Collection<Variable> params, double maxNorm) {
    return clipOnDevice(params, maxNorm).item();
  }

  /**
   * {@link #clip} with the norm left in the backend's memory (a float64 scalar): on a device the
   * decision to scale is taken there, and nothing is read back, so a recorded training step
   * (a CUDA graph) can clip.
   */
  public static Tensor clipOnDevice(Collection<Variable> params, double maxNorm) {
    List<Tensor> grads = new ArrayList<>(params.size());
    for (Variable p : params) {
      if (p.grad() != null) {
        grads.add(p.grad());
      }
    }
    return Fused.clipByGlobalNorm(grads, maxNorm); // squares added in order, tensor after tensor
  }
}
