package org.sdpo.transformer.nn;

import org.sdpo.autograd.F;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.Tensor;

/** A table of N vectors of size C, looked up by integer id. */
public final class Embedding extends Module {
  public final Variable weight; // (N, C)

  public Embedding(Tensor weight) {
    this.weight = param("weight", weight);
  }

  /** Rows for {@code ids} laid out as {@code shape}: output shape + [C]. */
  public Variable forward(int[] ids, int... shape) {
    return F.embedding(weight, ids, shape);
  }
}
