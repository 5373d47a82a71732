package org.sdpo.autograd.ops;

import org.sdpo.autograd.Op;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.Shape;
import org.sdpo.tensor.Tensor;

/** y = sum of x over some axes (all if none), optionally keeping them as size 1. */
public final class Sum extends Op {
  private final int[] xShape;
  private final int[] keptShape;

  private Sum(int[] xShape, int[] keptShape) {
    this.xShape = xShape;
    this.keptShape = keptShape;
  }

  public static Variable apply(Variable x, boolean keepDims, int... axes) {
    int[] ax = Shape.axes("sum", axes, x.value().rank());
    int[] kept = Shape.reduced(x.shape(), ax, true);
    return record(new Sum(x.shape(), kept), x.value().sum(keepDims, ax), x);
  }

  @Override
  public String name() {
    return "sum";
  }

  // dy/dx_i = 1 for every x_i that was summed: the gradient is broadcast back over those axes.
  @Override
  public Tensor[] backward(Tensor g) {
    return new Tensor[] {g.reshape(keptShape).broadcastTo(xShape)};
  }
}
