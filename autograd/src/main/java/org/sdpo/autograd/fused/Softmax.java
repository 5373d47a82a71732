package org.sdpo.autograd.fused;

import org.sdpo.autograd.Op;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.Buf;
import org.sdpo.tensor.Parallel;
import org.sdpo.tensor.Tensor;

/** y = softmax(x) over the last axis, as one fused op (composed twin: exp(x) / sum exp(x)). */
public final class Softmax extends Op {
  private final Tensor y;

  private Softmax(Tensor y) {
    this.y = y;
  }

  public static Variable apply(Variable x) {
    Tensor y = x.value().softmax();
    return record(new Softmax(y), y, x);
  }

  @Override
  public String name() {
    return "softmax";
  }

  @Override
  public Tensor[] backward(Tensor g) {
    return new Tensor[] {backwardRows(y, g, 1.0)};
  }

  /**
   * The softmax Jacobian-vector product, row by row over the last axis:
   * dy_i/dx_j = y_i ([i == j] - y_j), so dx_j = y_j (g_j - sum_i g_i y_i); times {@code scale}
   * (attention folds its 1/sqrt(D) in here).
   */
  public static Tensor backwardRows(Tensor y, Tensor g, double scale) {
    int K = y.dim(-1);
    Tensor dx = Tensor.empty(y.dtype(), y.shape());
    Buf yb = y.buffer();
    Buf gb = g.buffer();
    Buf d = dx.buffer();
    int rows = (int) (y.numel() / K);
    Parallel.forRange(rows, 2 * K, (s, e) -> {
      for (int r = s; r < e; r++) {
        int o = r * K;
        double dot = 0;
        for (int j = 0; j < K; j++) {
          dot += gb.get(o + j) * yb.get(o + j);
        }
        for (int j = 0; j < K; j++) {
          d.set(o + j, scale * yb.get(o + j) * (gb.get(o + j) - dot));
        }
      }
    });
    return dx;
  }
}
