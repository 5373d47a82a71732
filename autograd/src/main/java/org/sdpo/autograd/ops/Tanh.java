package org.sdpo.autograd.ops;

import org.sdpo.autograd.Op;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.Tensor;

/** y = tanh(x). */
public final class Tanh extends Op {
  private final Tensor y;

  private Tanh(Tensor y) {
    this.y = y;
  }

  public static Variable apply(Variable x) {
    Tensor y = x.value().tanh();
    return record(new Tanh(y), y, x);
  }

  @Override
  public String name() {
    return "tanh";
  }

  // dy/dx = 1 - tanh(x)^2 = 1 - y^2.
  @Override
  public Tensor[] backward(Tensor g) {
    return new Tensor[] {g.mul(y.square().rsub(1))};
  }
}
