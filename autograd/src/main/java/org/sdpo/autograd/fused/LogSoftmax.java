package org.sdpo.autograd.fused;

import org.sdpo.autograd.Op;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.Fused;
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
    return new Tensor[] {Fused.logSoftmaxBackward(y, g)};
  }
}
