package org.sdpo.autograd.ops;

import org.sdpo.autograd.Op;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.Shape;
import org.sdpo.tensor.Tensor;

/** y = max of x over some axes, optionally keeping them as size 1. */
public final class Max extends Op {
  private final Tensor x;
  private final Tensor maxKept;
  private final int[] axes;

  private Max(Tensor x, Tensor maxKept, int[] axes) {
    this.x = x;
    this.maxKept = maxKept;
    this.axes = axes;
  }

  public static Variable apply(Variable x, boolean keepDims, int... axes) {
    int[] ax = Shape.axes("max", axes, x.value().rank());
    Tensor kept = x.value().max(true, ax);
    Tensor y = keepDims ? kept : kept.reshape(Shape.reduced(x.shape(), ax, false));
    return record(new Max(x.value(), kept, ax), y, x);
  }

  @Override
  public String name() {
    return "max";
  }

  /*
   * The gradient flows to the elements equal to the maximum; ties share it equally (like
   * PyTorch's amax), so the gradient of the max of a constant row is 1/n per element.
   * mask = 1 - [max > x], weight = mask / sum(mask).
   */
  @Override
  public Tensor[] backward(Tensor g) {
    Tensor mask = maxKept.greater(x).rsub(1);
    Tensor ties = mask.sum(true, axes);
    return new Tensor[] {mask.div(ties).mul(g.reshape(maxKept.shape()))};
  }
}
