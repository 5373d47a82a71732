package org.sdpo.autograd.ops;

import org.sdpo.autograd.Op;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.Tensor;

/** Concatenation along one axis. */
public final class Concat extends Op {
  private final int axis;
  private final int[] sizes;

  private Concat(int axis, int[] sizes) {
    this.axis = axis;
    this.sizes = sizes;
  }

  public static Variable apply(int axis, Variable... parts) {
    Tensor[] values = new Tensor[parts.length];
    int[] sizes = new int[parts.length];
    for (int i = 0; i < parts.length; i++) {
      values[i] = parts[i].value();
      sizes[i] = values[i].dim(axis);
    }
    return record(new Concat(axis, sizes), Tensor.concat(axis, values), parts);
  }

  @Override
  public String name() {
    return "concat";
  }

  // Each input receives the window of the gradient where it was placed.
  @Override
  public Tensor[] backward(Tensor g) {
    Tensor[] grads = new Tensor[sizes.length];
    int at = 0;
    for (int i = 0; i < sizes.length; i++) {
      if (needsGrad(i)) {
        grads[i] = g.slice(axis, at, at + sizes[i]).contiguous();
      }
      at += sizes[i];
    }
    return grads;
  }
}
