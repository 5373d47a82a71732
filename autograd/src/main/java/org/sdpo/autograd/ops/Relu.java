package org.sdpo.autograd.ops;

import org.sdpo.autograd.Op;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.Tensor;

/** y = max(x, 0). */
public final class Relu extends Op {
  private final Tensor x;

  private Relu(Tensor x) {
    this.x = x;
  }

  public static Variable apply(Variable x) {
    return record(new Relu(x.value()), x.value().relu(), x);
  }

  @Override
  public String name() {
    return "relu";
  }

  // dy/dx = 1 where x > 0, else 0 (0 at the kink, as PyTorch).
  @Override
  public Tensor[] backward(Tensor g) {
    return new Tensor[] {g.mul(x.step())};
  }
}
