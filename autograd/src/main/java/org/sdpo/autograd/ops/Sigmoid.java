package org.sdpo.autograd.ops;

import org.sdpo.autograd.Op;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.Tensor;

/** y = 1 / (1 + exp(-x)). */
public final class Sigmoid extends Op {
  private final Tensor y;

  private Sigmoid(Tensor y) {
    this.y = y;
  }

  public static Variable apply(Variable x) {
    Tensor y = x.value().sigmoid();
    return record(new Sigmoid(y), y, x);
  }

  @Override
  public String name() {
    return "sigmoid";
  }

  // dy/dx = y (1 - y).
  @Override
  public Tensor[] backward(Tensor g) {
    return new Tensor[] {g.mul(y.mul(y.rsub(1)))};
  }
}
