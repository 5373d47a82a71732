package org.sdpo.autograd.ops;

import org.sdpo.autograd.Op;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.Tensor;

/** y = x^p for a constant exponent p. */
public final class Pow extends Op {
  private final Tensor x;
  private final double p;

  private Pow(Tensor x, double p) {
    this.x = x;
    this.p = p;
  }

  public static Variable apply(Variable x, double p) {
    return record(new Pow(x.value(), p), x.value().pow(p), x);
  }

  @Override
  public String name() {
    return "pow";
  }

  // dy/dx = p x^(p-1).
  @Override
  public Tensor[] backward(Tensor g) {
    return new Tensor[] {g.mul(x.pow(p - 1).mul(p))};
  }
}
