package org.sdpo.autograd.ops;

import org.sdpo.autograd.Op;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.Tensor;

/** y = ln(x). */
public final class Log extends Op {
  private final Tensor x;

  private Log(Tensor x) {
    this.x = x;
  }

  public static Variable apply(Variable x) {
    return record(new Log(x.value()), x.value().log(), x);
  }

  @Override
  public String name() {
    return "log";
  }

  // dy/dx = 1/x.
  @Override
  public Tensor[] backward(Tensor g) {
    return new Tensor[] {g.div(x)};
  }
}
