package org.sdpo.autograd.ops;

import org.sdpo.autograd.Op;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.Tensor;

/** y = a / b elementwise, with numpy broadcasting. */
public final class Div extends Op {
  private final Tensor a;
  private final Tensor b;
  private final Tensor y;

  private Div(Tensor a, Tensor b, Tensor y) {
    this.a = a;
    this.b = b;
    this.y = y;
  }

  public static Variable apply(Variable a, Variable b) {
    Tensor y = a.value().div(b.value());
    return record(new Div(a.value(), b.value(), y), y, a, b);
  }

  @Override
  public String name() {
    return "div";
  }

  // dy/da = 1/b; dy/db = -a/b^2 = -y/b; summed over broadcast axes.
  @Override
  public Tensor[] backward(Tensor g) {
    Tensor gOverB = g.div(b);
    return new Tensor[] {
      needsGrad(0) ? gOverB.sumTo(a.shape()) : null,
      needsGrad(1) ? gOverB.mul(y).neg().sumTo(b.shape()) : null
    };
  }
}
