package org.sdpo.autograd.ops;

import org.sdpo.autograd.Op;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.Tensor;

/** The same elements in another shape (one dimension may be -1). */
public final class Reshape extends Op {
  private final int[] xShape;

  private Reshape(int[] xShape) {
    this.xShape = xShape;
  }

  public static Variable apply(Variable x, int... shape) {
    return record(new Reshape(x.shape()), x.value().reshape(shape), x);
  }

  @Override
  public String name() {
    return "reshape";
  }

  // A reshape moves no values: the gradient is reshaped back.
  @Override
  public Tensor[] backward(Tensor g) {
    return new Tensor[] {g.reshape(xShape)};
  }
}
