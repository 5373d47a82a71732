package org.sdpo.autograd.ops;

import org.sdpo.autograd.Op;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.Fused;
import org.sdpo.tensor.Tensor;

/**
 * y = log(1 - exp(x)) for x &lt; 0: the log of the probability mass left over when log-mass x is
 * taken (SDPO's tail bucket). Computed as log(-expm1(x)) near 0 and log1p(-exp(x)) below -ln 2
 * (Maechler's recipe), so it stays accurate for x close to 0 and for very negative x.
 */
public final class Log1mExp extends Op {
  private final Tensor x;

  private Log1mExp(Tensor x) {
    this.x = x;
  }

  public static Variable apply(Variable x) {
    Tensor xv = x.value().contiguous();
    return record(new Log1mExp(xv), Fused.log1mexp(xv), x);
  }

  @Override
  public String name() {
    return "log1mexp";
  }

  // dy/dx = -e^x / (1 - e^x) = -1 / expm1(-x).
  @Override
  public Tensor[] backward(Tensor g) {
    return new Tensor[] {Fused.log1mexpBackward(x, g)};
  }
}
