package org.sdpo.autograd.ops;

import org.sdpo.autograd.Op;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.Tensor;

/** y = a - b, with numpy broadcasting. */
public final class Sub extends Op {
  private final int[] aShape;
  private final int[] bShape;

  private Sub(int[] aShape, int[] bShape) {
    this.aShape = aShape;
    this.bShape = bShape;
  }

  public static Variable apply(Variable a, Variable b) {
    return record(new Sub(a.shape(), b.shape()), a.value().sub(b.value()), a, b);
  }

  @Override
  public String name() {
    return "sub";
  }

  // dy/da = 1, dy/db = -1, summed over broadcast axes.
  @Override
  public Tensor[] backward(Tensor g) {
    return new Tensor[] {
      needsGrad(0) ? g.sumTo(aShape) : null, needsGrad(1) ? g.sumTo(bShape).neg() : null
    };
  }
}
