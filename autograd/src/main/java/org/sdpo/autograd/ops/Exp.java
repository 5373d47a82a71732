package org.sdpo.autograd.ops;

import org.sdpo.autograd.Op;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.Tensor;

/** y = exp(x). */
public final class Exp extends Op {
  private final Tensor y;

  private Exp(Tensor y) {
    this.y = y;
  }

  public static Variable apply(Variable x) {
    Tensor y = x.value().exp();
    return record(new Exp(y), y, x);
  }

  @Override
  public String name() {
    return "exp";
  }

  // dy/dx = exp(x) = y.
  @Override
  public Tensor[] backward(Tensor g) {
    return new Tensor[] {g.mul(y)};
  }
}
