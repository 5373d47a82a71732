package org.sdpo.autograd.ops;

import org.sdpo.autograd.Op;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.Tensor;

/** y = cond ? a : b elementwise (broadcasting); {@code cond} is a constant 0/1 mask. */
public final class Where extends Op {
  private final Tensor cond;
  private final int[] aShape;
  private final int[] bShape;

  private Where(Tensor cond, int[] aShape, int[] bShape) {
    this.cond = cond;
    this.aShape = aShape;
    this.bShape = bShape;
  }

  public static Variable apply(Tensor cond, Variable a, Variable b) {
    Tensor y = Tensor.where(cond, a.value(), b.value());
    return record(new Where(cond, a.shape(), b.shape()), y, a, b);
  }

  @Override
  public String name() {
    return "where";
  }

  // The gradient goes to a where cond holds and to b elsewhere (summed over broadcast axes).
  @Override
  public Tensor[] backward(Tensor g) {
    Tensor zero = Tensor.scalar(g.dtype(), 0);
    return new Tensor[] {
      needsGrad(0) ? Tensor.where(cond, g, zero).sumTo(aShape) : null,
      needsGrad(1) ? Tensor.where(cond, zero, g).sumTo(bShape) : null
    };
  }
}
