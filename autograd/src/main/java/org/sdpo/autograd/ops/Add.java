package org.sdpo.autograd.ops;

import org.sdpo.autograd.Op;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.Tensor;

/** y = a + b, with numpy broadcasting. */
public final class Add extends Op {
  private final int[] aShape;
  private final int[] bShape;

  private Add(int[] aShape, int[] bShape) {
    this.aShape = aShape;
    this.bShape = bShape;
  }

  public static Variable apply(Variable a, Variable b) {
    return record(new Add(a.shape(), b.shape()), a.value().add(b.value()), a, b);
  }

  @Override
  public String name() {
    return "add";
  }

  // dy/da = dy/db = 1; a broadcast input receives the sum over the axes it was broadcast along.
  @Override
  public Tensor[] backward(Tensor g) {
    return new Tensor[] {
      needsGrad(0) ? g.sumTo(aShape) : null, needsGrad(1) ? g.sumTo(bShape) : null
    };
  }
}
