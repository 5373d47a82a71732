package org.sdpo.autograd.fused;

import org.sdpo.autograd.Op;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.Fused;
import org.sdpo.tensor.Tensor;

/**
 * SiLU (swish), the activation of the SwiGLU feed-forward layer of Llama and Qwen: y = x s(x)
 * with s the logistic sigmoid, saved for the backward. One backend kernel each way
 * ({@code Fused.silu}). Composed twin: mul(x, sigmoid(x)).
 */
public final class Silu extends Op {
  private final Tensor x;
  private final Tensor s;

  private Silu(Tensor x, Tensor s) {
    this.x = x;
    this.s = s;
  }

  public static Variable apply(Variable x) {
    Tensor xv = x.value().contiguous();
    Tensor[] ys = Fused.silu(xv); // y, sigmoid(x)
    return record(new Silu(xv, ys[1]), ys[0], x);
  }

  @Override
  public String name() {
    return "silu";
  }

  // dy/dx = s + x s (1 - s) = s (1 + x (1 - s)).
  @Override
  public Tensor[] backward(Tensor g) {
    return new Tensor[] {Fused.siluBackward(x, s, g)};
  }
}
