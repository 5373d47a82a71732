package org.sdpo.autograd.ops;

import org.sdpo.autograd.Op;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.Backends;
import org.sdpo.tensor.Fused;
import org.sdpo.tensor.Indices;
import org.sdpo.tensor.Tensor;

/** y[n] = x[n, idx[n]] for a (N, K) input: picks one column per row (target log-probs). */
public final class Pick extends Op {
  private final int[] xShape;
  private final Indices idx;

  private Pick(int[] xShape, Indices idx) {
    this.xShape = xShape;
    this.idx = idx;
  }

  public static Variable apply(Variable x, int[] idx) {
    Indices onBackend = Backends.current().indices(idx);
    return record(new Pick(x.shape(), onBackend), x.value().pick(onBackend), x);
  }

  @Override
  public String name() {
    return "pick";
  }

  // dy[n]/dx[n, k] = [k == idx[n]].
  @Override
  public Tensor[] backward(Tensor g) {
    return new Tensor[] {Fused.pickBackward(g, idx, xShape)};
  }
}
