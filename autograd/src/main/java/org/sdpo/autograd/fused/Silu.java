package org.sdpo.autograd.fused;

import org.sdpo.autograd.Op;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.Buf;
import org.sdpo.tensor.Parallel;
import org.sdpo.tensor.Tensor;

/**
 * SiLU (swish), the activation of the SwiGLU feed-forward layer of Llama and Qwen: y = x s(x)
 * with s the logistic sigmoid. One pass forward (s saved) and one backward. Composed twin:
 * mul(x, sigmoid(x)).
 */
public final class Silu extends Op {
  private final Tensor x;
  private final Tensor s;

  private Silu(Tensor x, Tensor s) {
    this.x = x;
    this.s = s;
  }

  public static Variable apply(Variable x) {
    Tensor xv = x.value().contiguous();
    Tensor s = Tensor.empty(xv.dtype(), xv.shape()); // sigmoid(x), saved for backward
    Tensor y = Tensor.empty(xv.dtype(), xv.shape());
    Buf xb = xv.buffer();
    Buf sb = s.buffer();
    Buf yb = y.buffer();
    Parallel.forRange(yb.size(), 1, (b, e) -> {
      for (int i = b; i < e; i++) {
        double v = xb.get(i);
        double sig = 1.0 / (1.0 + Math.exp(-v));
        sb.set(i, sig);
        yb.set(i, v * sig);
      }
    });
    return record(new Silu(xv, s), y, x);
  }

  @Override
  public String name() {
    return "silu";
  }

  // dy/dx = s + x s (1 - s) = s (1 + x (1 - s)).
  @Override
  public Tensor[] backward(Tensor g) {
    Tensor dx = Tensor.empty(x.dtype(), x.shape());
    Buf xb = x.buffer();
    Buf sb = s.buffer();
    Buf gb = g.buffer();
    Buf d = dx.buffer();
    Parallel.forRange(d.size(), 2, (b, e) -> {
      for (int i = b; i < e; i++) {
        double sig = sb.get(i);
        d.set(i, gb.get(i) * sig * (1 + xb.get(i) * (1 - sig)));
      }
    });
    return new Tensor[] {dx};
  }
}
