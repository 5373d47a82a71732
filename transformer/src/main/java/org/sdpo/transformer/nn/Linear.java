package org.sdpo.transformer.nn;

import org.sdpo.autograd.F;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.Tensor;

/**
 * An affine map y = x Wᵀ + b with W stored as [out, in], PyTorch's {@code nn.Linear} layout and
 * so the layout of Llama-family checkpoints (GPT-2's {@link Conv1D} stores W as [in, out]).
 */
public final class Linear extends Module {
  public final Variable weight; // (out, in)
  public final Variable bias; // (out), or null

  /** {@code bias} may be null: no bias. */
  public Linear(Tensor weight, Tensor bias) {
    this.weight = param("weight", weight);
    this.bias = bias == null ? null : param("bias", bias);
  }

  /** x (..., in) to (..., out). */
  public Variable forward(Variable x) {
    return F.linear(x, weight, true, bias); // W stored transposed: x Wᵀ (+ b)
  }
}
