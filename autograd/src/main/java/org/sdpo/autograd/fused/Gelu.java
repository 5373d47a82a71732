package org.sdpo.autograd.fused;

import org.sdpo.autograd.Op;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.Buf;
import org.sdpo.tensor.Parallel;
import org.sdpo.tensor.Tensor;

/**
 * GELU, tanh form (GPT-2's "gelu_new"): y = 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715
 * x^3). The tanh runs as one vectorised backend call; the rest is one pass. Composed twin: the
 * same formula from mul, pow, add, tanh.
 */
public final class Gelu extends Op {
  static final double SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
  static final double A = 0.044715;

  private final Tensor x;
  private final Tensor t;

  private Gelu(Tensor x, Tensor t) {
    this.x = x;
    this.t = t;
  }

  public static Variable apply(Variable x) {
    Tensor xv = x.value().contiguous();
    Tensor u = Tensor.empty(xv.dtype(), xv.shape());
    Buf xb = xv.buffer();
    Buf ub = u.buffer();
    Parallel.forRange(ub.size(), 1, (s, e) -> {
      for (int i = s; i < e; i++) {
        double v = xb.get(i);
        ub.set(i, SQRT_2_OVER_PI * (v + A * v * v * v));
      }
    });
    Tensor t = u.tanh(); // saved for backward
    Tensor y = Tensor.empty(xv.dtype(), xv.shape());
    Buf tb = t.buffer();
    Buf yb = y.buffer();
    Parallel.forRange(yb.size(), 1, (s, e) -> {
      for (int i = s; i < e; i++) {
        yb.set(i, 0.5 * xb.get(i) * (1 + tb.get(i)));
      }
    });
    return record(new Gelu(xv, t), y, x);
  }

  @Override
  public String name() {
    return "gelu";
  }

  // dy/dx = 0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2), t = tanh(u).
  @Override
  public Tensor[] backward(Tensor g) {
    Tensor dx = Tensor.empty(x.dtype(), x.shape());
    Buf xb = x.buffer();
    Buf tb = t.buffer();
    Buf gb = g.buffer();
    Buf d = dx.buffer();
    Parallel.forRange(d.size(), 2, (s, e) -> {
      for (int i = s; i < e; i++) {
        double v = xb.get(i);
        double th = tb.get(i);
        double dudx = SQRT_2_OVER_PI * (1 + 3 * A * v * v);
        d.set(i, gb.get(i) * (0.5 * (1 + th) + 0.5 * v * (1 - th * th) * dudx));
      }
    });
    return new Tensor[] {dx};
  }
}
