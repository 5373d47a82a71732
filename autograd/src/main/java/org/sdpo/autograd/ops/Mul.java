package org.sdpo.autograd.ops;

import org.sdpo.autograd.Op;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.Tensor;

/** y = a * b elementwise, with numpy broadcasting. */
public final class Mul extends Op {
  private final Tensor a;
  private final Tensor b;

  private Mul(Tensor a, Tensor b) {
    this.a = a;
    this.b = b;
  }

  public static Variable apply(Variable a, Variable b) {
    return record(new Mul(a.value(), b.value()), a.value().mul(b.value()), a, b);
  }

  @Override
  public String name() {
    return "mul";
  }

  // dy/da = b, dy/db = a, summed over broadcast axes.
  @Override
  public Tensor[] backward(Tensor g) {
    return new Tensor[] {
      needsGrad(0) ? g.mul(b).sumTo(a.shape()) : null,
      needsGrad(1) ? g.mul(a).sumTo(b.shape()) : null
    };
  }
}
