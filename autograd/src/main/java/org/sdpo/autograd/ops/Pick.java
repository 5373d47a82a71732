package org.sdpo.autograd.ops;

import org.sdpo.autograd.Op;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.Backends;
import org.sdpo.tensor.Fused;
import org.sdpo.tensor.Indices;
import org.sdpo.tensor.Tensor;

/**
 * Picks columns of a (N, K) input: y[n] = x[n, idx[n]] (one per row: target log-probs), or
 * y[n, j] = x[n, idx[n*J + j]] (J per row: each position's top-K log-probs; torch.gather along
 * the last axis).
 */
public final class Pick extends Op {
  private final int[] xShape;
  private final Indices idx;

  private Pick(int[] xShape, Indices idx) {
    this.xShape = xShape;
    this.idx = idx;
  }

  /** One column per row: (N). */
  public static Variable apply(Variable x, int[] idx) {
    Indices onBackend = Backends.current().indices(idx);
    return record(new Pick(x.shape(), onBackend), x.value().pick(onBackend), x);
  }

  /** J columns per row, ids in the backend's memory (from {@link Tensor#topK}, say): (N, J). */
  public static Variable apply(Variable x, Indices idx, int J) {
    return record(new Pick(x.shape(), idx), x.value().pick(idx, J), x);
  }

  @Override
  public String name() {
    return "pick";
  }

  // dy[n, j]/dx[n, k] = [k == idx[n*J + j]]: each g[n, j] goes to its column, repeats add up.
  @Override
  public Tensor[] backward(Tensor g) {
    return new Tensor[] {Fused.pickBackward(g, idx, xShape)};
  }
}
