package org.sdpo.autograd;

import org.sdpo.tensor.Tensor;

/**
 * A differentiable operation. Each op is one small class: a static {@code apply} that computes
 * the forward value, saves what the backward needs as final fields, and calls {@link #record};
 * and {@link #backward} right below it, with the derivation in a comment.
 *
 * <p>Rules: an op never modifies its inputs or saved tensors, and {@code backward} returns one
 * gradient per input, of that input's exact shape (or null where {@link #needsGrad(int)} is
 * false). The engine accumulates them; an op never zeroes or accumulates gradients itself.
 */
public abstract class Op {
  private boolean[] needs;

  /** A short name used in reports and error messages ({@code matmul}, {@code layer_norm}). */
  public abstract String name();

  /**
   * Gradients of the loss with respect to each input, given the gradient {@code gradOut} with
   * respect to this op's output.
   */
  public abstract Tensor[] backward(Tensor gradOut);

  /** True if input {@code i} needs a gradient (skip the work otherwise). */
  protected final boolean needsGrad(int i) {
    return needs != null && needs[i];
  }

  /**
   * Wraps a forward result: records {@code op} in the graph if recording is on and some input
   * requires a gradient, otherwise returns a constant.
   */
  protected static Variable record(Op op, Tensor out, Variable... inputs) {
    if (Anomaly.isEnabled()) {
      Anomaly.checkForward(op, out);
    }
    if (!Grad.isEnabled()) {
      return Variable.constant(out);
    }
    boolean any = false;
    boolean[] needs = new boolean[inputs.length];
    for (int i = 0; i < inputs.length; i++) {
      needs[i] = inputs[i].requiresGrad();
      any |= needs[i];
    }
    if (!any) {
      return Variable.constant(out);
    }
    op.needs = needs;
    return new Variable(out, true, null, op, inputs);
  }
}
