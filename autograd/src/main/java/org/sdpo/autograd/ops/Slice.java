package org.sdpo.autograd.ops;

import org.sdpo.autograd.Op;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.Tensor;

/** Positions {@code [start, end)} along one axis. */
public final class Slice extends Op {
  private final int[] xShape;
  private final int axis;
  private final int start;
  private final int end;

  private Slice(int[] xShape, int axis, int start, int end) {
    this.xShape = xShape;
    this.axis = axis;
    this.start = start;
    this.end = end;
  }

  public static Variable apply(Variable x, int axis, int start, int end) {
    Tensor y = x.value().slice(axis, start, end).contiguous();
    return record(new Slice(x.shape(), axis, start, end), y, x);
  }

  @Override
  public String name() {
    return "slice";
  }

  // The slice's gradient lands in its window; the rest of the input gets zero.
  @Override
  public Tensor[] backward(Tensor g) {
    Tensor dx = Tensor.zeros(g.dtype(), xShape);
    dx.slice(axis, start, end).assign(g);
    return new Tensor[] {dx};
  }
}
