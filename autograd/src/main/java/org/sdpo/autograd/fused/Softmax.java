package org.sdpo.autograd.fused;

import org.sdpo.autograd.Op;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.Fused;
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
   * (attention folds its 1/sqrt(D) in here). One backend kernel ({@code Fused.softmaxBackward}).
   */
  public static Tensor backwardRows(Tensor y, Tensor g, double scale) {
    return Fused.softmaxBackward(y, g, scale);
  }
}
