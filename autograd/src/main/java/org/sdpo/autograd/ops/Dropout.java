package org.sdpo.autograd.ops;

import org.sdpo.autograd.Op;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.Rng;
import org.sdpo.tensor.Fused;
import org.sdpo.tensor.Tensor;

/**
 * Inverted dropout: each element is zeroed with probability p and the survivors scaled by
 * 1/(1-p), so the expectation is unchanged. The mask is drawn from an explicit {@link Rng}.
 */
public final class Dropout extends Op {
  private final Tensor mask;

  private Dropout(Tensor mask) {
    this.mask = mask;
  }

  public static Variable apply(Variable x, double p, Rng rng) {
    if (!(p >= 0 && p < 1)) {
      throw new IllegalArgumentException("dropout: p must be in [0, 1), got " + p);
    }
    Tensor mask = Fused.dropoutMask(x.dtype(), x.shape(), p, rng); // 0 or 1/(1-p)
    return record(new Dropout(mask), x.value().mul(mask), x);
  }

  @Override
  public String name() {
    return "dropout";
  }

  // y = x * m with m = 0 or 1/(1-p): dy/dx = m.
  @Override
  public Tensor[] backward(Tensor g) {
    return new Tensor[] {g.mul(mask)};
  }
}
