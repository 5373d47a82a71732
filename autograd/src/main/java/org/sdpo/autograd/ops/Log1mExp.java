package org.sdpo.autograd.ops;

import org.sdpo.autograd.Op;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.Buf;
import org.sdpo.tensor.Tensor;

/**
 * y = log(1 - exp(x)) for x &lt; 0: the log of the probability mass left over when log-mass x is
 * taken (SDPO's tail bucket). Computed as log(-expm1(x)) near 0 and log1p(-exp(x)) below -ln 2
 * (Maechler's recipe), so it stays accurate for x close to 0 and for very negative x.
 */
public final class Log1mExp extends Op {
  private static final double LN2 = Math.log(2);
  private final Tensor x;

  private Log1mExp(Tensor x) {
    this.x = x;
  }

  public static Variable apply(Variable x) {
    Tensor xv = x.value().contiguous();
    Tensor y = Tensor.empty(xv.dtype(), xv.shape());
    Buf xb = xv.buffer();
    Buf yb = y.buffer();
    for (int i = 0, n = yb.size(); i < n; i++) {
      double v = xb.get(i);
      yb.set(i, v > -LN2 ? Math.log(-Math.expm1(v)) : Math.log1p(-Math.exp(v)));
    }
    return record(new Log1mExp(xv), y, x);
  }

  @Override
  public String name() {
    return "log1mexp";
  }

  // dy/dx = -e^x / (1 - e^x) = -1 / expm1(-x).
  @Override
  public Tensor[] backward(Tensor g) {
    Tensor dx = Tensor.empty(x.dtype(), x.shape());
    Buf xb = x.buffer();
    Buf gb = g.buffer();
    Buf d = dx.buffer();
    for (int i = 0, n = d.size(); i < n; i++) {
      d.set(i, -gb.get(i) / Math.expm1(-xb.get(i)));
    }
    return new Tensor[] {dx};
  }
}
