package org.sdpo.autograd.ops;

import org.sdpo.autograd.Op;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.Tensor;

/** Reorders axes: output axis i is input axis {@code axes[i]}. */
public final class Permute extends Op {
  private final int[] inverse;

  private Permute(int[] inverse) {
    this.inverse = inverse;
  }

  public static Variable apply(Variable x, int... axes) {
    Tensor y = x.value().permute(axes).contiguous();
    int rank = axes.length;
    int[] inverse = new int[rank];
    for (int i = 0; i < rank; i++) {
      inverse[axes[i] < 0 ? axes[i] + rank : axes[i]] = i;
    }
    return record(new Permute(inverse), y, x);
  }

  @Override
  public String name() {
    return "permute";
  }

  // The gradient is permuted back with the inverse permutation.
  @Override
  public Tensor[] backward(Tensor g) {
    return new Tensor[] {g.permute(inverse).contiguous()};
  }
}
