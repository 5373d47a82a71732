package org.sdpo.autograd.ops;

import org.sdpo.autograd.Op;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.Tensor;

/** y = |x|. */
public final class Abs extends Op {
  private final Tensor x;

  private Abs(Tensor x) {
    this.x = x;
  }

  public static Variable apply(Variable x) {
    return record(new Abs(x.value()), x.value().abs(), x);
  }

  @Override
  public String name() {
    return "abs";
  }

  // dy/dx = sign(x) = 2 step(x) - 1 (-1 at the kink x = 0).
  @Override
  public Tensor[] backward(Tensor g) {
    return new Tensor[] {g.mul(x.step().mul(2).add(-1))};
  }
}
