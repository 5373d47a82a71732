package org.sdpo.autograd.fused;

import org.sdpo.autograd.Op;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.Buf;
import org.sdpo.tensor.Tensor;

/**
 * y = log softmax(x) = x - logsumexp(x) over the last axis, computed stably (the maximum is
 * subtracted first). Composed twin: x - log(sum(exp(x))).
 */
public final class LogSoftmax extends Op {
  private final Tensor y;

  private LogSoftmax(Tensor y) {
    this.y = y;
  }

  public static Variable apply(Variable x) {
    Tensor y = x.value().logSoftmax();
    return record(new LogSoftmax(y), y, x);
  }

  @Override
  public String name() {
    return "log_softmax";
  }

  // dy_i/dx_j = [i == j] - softmax_j, so dx_j = g_j - softmax_j * sum_i g_i, softmax = exp(y).
  @Override
  public Tensor[] backward(Tensor g) {
    int K = y.dim(-1);
    Tensor dx = y.exp();
    Buf p = dx.buffer();
    Buf gb = g.buffer();
    int rows = (int) (y.numel() / K);
    for (int r = 0; r < rows; r++) {
      int o = r * K;
      double sum = 0;
      for (int j = 0; j < K; j++) {
        sum += gb.get(o + j);
      }
      for (int j = 0; j < K; j++) {
        p.set(o + j, gb.get(o + j) - p.get(o + j) * sum);
      }
    }
    return new Tensor[] {dx};
  }
}
