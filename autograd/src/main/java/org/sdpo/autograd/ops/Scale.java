package org.sdpo.autograd.ops;

import org.sdpo.autograd.Op;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.Tensor;

/** y = s x for a constant s. */
public final class Scale extends Op {
  private final double s;

  private Scale(double s) {
    this.s = s;
  }

  public static Variable apply(Variable x, double s) {
    return record(new Scale(s), x.value().mul(s), x);
  }

  @Override
  public String name() {
    return "scale";
  }

  // dy/dx = s.
  @Override
  public Tensor[] backward(Tensor g) {
    return new Tensor[] {g.mul(s)};
  }
}
