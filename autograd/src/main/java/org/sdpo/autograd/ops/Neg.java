package org.sdpo.autograd.ops;

import org.sdpo.autograd.Op;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.Tensor;

/** y = -x. */
public final class Neg extends Op {
  public static Variable apply(Variable x) {
    return record(new Neg(), x.value().neg(), x);
  }

  @Override
  public String name() {
    return "neg";
  }

  // dy/dx = -1.
  @Override
  public Tensor[] backward(Tensor g) {
    return new Tensor[] {g.neg()};
  }
}
