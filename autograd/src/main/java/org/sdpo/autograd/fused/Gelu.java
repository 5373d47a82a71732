package org.sdpo.autograd.fused;

import org.sdpo.autograd.Op;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.Fused;
import org.sdpo.tensor.Tensor;

/**
 * GELU, tanh form (GPT-2's "gelu_new"): y = 0.5 x (1 + t), t = tanh(u), u = sqrt(2/pi) (x +
 * 0.044715 x^3); t is saved for the backward. One backend kernel each way ({@code Fused.gelu}).
 * Composed twin: the same formula from mul, pow, add, tanh.
 */
public final class Gelu extends Op {
  private final Tensor x;
  private final Tensor t;

  private Gelu(Tensor x, Tensor t) {
    this.x = x;
    this.t = t;
  }

  public static Variable apply(Variable x) {
    Tensor xv = x.value().contiguous();
    Tensor[] yt = Fused.gelu(xv); // y, t
    return record(new Gelu(xv, yt[1]), yt[0], x);
  }

  @Override
  public String name() {
    return "gelu";
  }

  // dy/dx = 0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2), t = tanh(u).
  @Override
  public Tensor[] backward(Tensor g) {
    return new Tensor[] {Fused.geluBackward(x, t, g)};
  }
}
