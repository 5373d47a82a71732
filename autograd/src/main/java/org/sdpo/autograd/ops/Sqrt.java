package org.sdpo.autograd.ops;

import org.sdpo.autograd.Op;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.Tensor;

/** y = sqrt(x). */
public final class Sqrt extends Op {
  private final Tensor y;

  private Sqrt(Tensor y) {
    this.y = y;
  }

  public static Variable apply(Variable x) {
    Tensor y = x.value().sqrt();
    return record(new Sqrt(y), y, x);
  }

  @Override
  public String name() {
    return "sqrt";
  }

  // dy/dx = 1 / (2 sqrt(x)) = 0.5 / y.
  @Override
  public Tensor[] backward(Tensor g) {
    return new Tensor[] {g.div(y).mul(0.5)};
  }
}
