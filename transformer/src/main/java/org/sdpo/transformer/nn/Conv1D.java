package org.sdpo.transformer.nn;

import org.sdpo.autograd.F;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.Tensor;

/**
 * An affine map y = x W + b with W stored as [in, out], which is how GPT-2's checkpoints store it
 * (Hugging Face's {@code Conv1D}; a PyTorch {@code nn.Linear} would store W transposed).
 */
public final class Conv1D extends Module {
  public final Variable weight; // (in, out)
  public final Variable bias; // (out)

  public Conv1D(Tensor weight, Tensor bias) {
    this.weight = param("weight", weight);
    this.bias = param("bias", bias);
  }

  /** x (..., in) to (..., out). */
  public Variable forward(Variable x) {
    return F.linear(x, weight, bias);
  }
}
