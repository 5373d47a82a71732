package org.sdpo.autograd.ops;

import org.sdpo.autograd.Op;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.Shape;
import org.sdpo.tensor.Tensor;

/** y = mean of x over some axes (all if none), optionally keeping them as size 1. */
public final class Mean extends Op {
  private final int[] xShape;
  private final int[] keptShape;
  private final double count;

  private Mean(int[] xShape, int[] keptShape) {
    this.xShape = xShape;
    this.keptShape = keptShape;
    this.count = (double) Shape.numel(xShape) / Shape.numel(keptShape);
  }

  public static Variable apply(Variable x, boolean keepDims, int... axes) {
    int[] ax = Shape.axes("mean", axes, x.value().rank());
    int[] kept = Shape.reduced(x.shape(), ax, true);
    return record(new Mean(x.shape(), kept), x.value().mean(keepDims, ax), x);
  }

  @Override
  public String name() {
    return "mean";
  }

  // dy/dx_i = 1/n for each of the n averaged elements.
  @Override
  public Tensor[] backward(Tensor g) {
    return new Tensor[] {g.reshape(keptShape).mul(1.0 / count).broadcastTo(xShape)};
  }
}
