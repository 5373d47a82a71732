package org.sdpo.autograd.ops;

import org.sdpo.autograd.Op;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.Tensor;

/** Copies x to a larger shape by numpy broadcasting. */
public final class BroadcastTo extends Op {
  private final int[] xShape;

  private BroadcastTo(int[] xShape) {
    this.xShape = xShape;
  }

  public static Variable apply(Variable x, int... shape) {
    return record(new BroadcastTo(x.shape()), x.value().broadcastTo(shape), x);
  }

  @Override
  public String name() {
    return "broadcast_to";
  }

  // Each input element was copied to several outputs: their gradients add up.
  @Override
  public Tensor[] backward(Tensor g) {
    return new Tensor[] {g.sumTo(xShape)};
  }
}
