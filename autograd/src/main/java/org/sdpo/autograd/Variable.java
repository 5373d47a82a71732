package org.sdpo.autograd;

import java.util.Objects;
import org.sdpo.tensor.DType;
import org.sdpo.tensor.Tensor;
import org.sdpo.tensor.Workspace;

/**
 * A node of the computation graph: a value, and (if it requires a gradient) the gradient that
 * {@link #backward()} accumulates into it.
 *
 * <p>Leaves are made with {@link #param} (trainable, requires a gradient) or {@link #constant}.
 * Every op result remembers the {@link Op} that made it and that op's inputs; {@link #backward()}
 * walks those links in reverse topological order and then frees them.
 */
public final class Variable {
  private final Tensor value;
  private final boolean requiresGrad;
  private final String name;
  private Tensor grad;
  private boolean retainGrad;
  private final boolean interior;
  Op creator;
  Variable[] inputs;

  Variable(Tensor value, boolean requiresGrad, String name, Op creator, Variable[] inputs) {
    this.value = Objects.requireNonNull(value, "value");
    this.requiresGrad = requiresGrad;
    this.name = name;
    this.creator = creator;
    this.inputs = inputs;
    this.interior = creator != null;
  }

  /** A trainable leaf: gradients accumulate into it. */
  public static Variable param(Tensor value, String name) {
    return new Variable(value, true, name, null, null);
  }

  /** A trainable leaf without a name. */
  public static Variable param(Tensor value) {
    return param(value, null);
  }

  /**
   * A leaf whose gradient is added into {@code grad}, a tensor of its shape that the caller owns
   * (and has zeroed): for a sub-graph over rows of a larger tensor, e.g. an LM head applied a chunk
   * of rows at a time, whose gradients land in a slice of the whole's gradient.
   */
  public static Variable gradientInto(Tensor value, Tensor grad) {
    if (!java.util.Arrays.equals(value.shape(), grad.shape()) || value.dtype() != grad.dtype()) {
      throw new IllegalArgumentException("gradientInto: a gradient " + grad.dtype() + " "
          + java.util.Arrays.toString(grad.shape()) + " for a value " + value.dtype() + " "
          + java.util.Arrays.toString(value.shape()));
    }
    Variable v = new Variable(value, true, null, null, null);
    v.grad = grad;
    return v;
  }

  /** A leaf that never receives a gradient (inputs, masks, targets). */
  public static Variable constant(Tensor value) {
    return new Variable(value, false, null, null, null);
  }

  /** A rank-0 constant. */
  public static Variable scalar(DType dtype, double v) {
    return constant(Tensor.scalar(dtype, v));
  }

  public Tensor value() {
    return value;
  }

  /** The accumulated gradient, or null if none has arrived yet. */
  public Tensor grad() {
    return grad;
  }

  public boolean requiresGrad() {
    return requiresGrad;
  }

  /** The name given to a parameter, or null. */
  public String name() {
    return name;
  }

  /** True for a variable created by an op (as opposed to a leaf). */
  public boolean hasCreator() {
    return creator != null;
  }

  /** The op that made this variable, or null for a leaf or after backward freed the graph. */
  public String creatorName() {
    return creator == null ? null : creator.name();
  }

  public int[] shape() {
    return value.shape();
  }

  public int dim(int axis) {
    return value.dim(axis);
  }

  public DType dtype() {
    return value.dtype();
  }

  /** Keeps the gradient of this non-leaf variable after backward (leaves always keep theirs). */
  public Variable retainGrad() {
    this.retainGrad = true;
    return this;
  }

  boolean keepsGrad() {
    return !interior || retainGrad;
  }

  /** True if this variable was made by an op whose graph an earlier backward already freed. */
  boolean graphFreed() {
    return interior && creator == null;
  }

  /** Stop-gradient: the same value, cut from the graph (the SDPO teacher is used this way). */
  public Variable detach() {
    return constant(value);
  }

  /** Sets the accumulated gradient to zero, keeping its memory. */
  public void zeroGrad() {
    if (grad != null) {
      grad.fill(0);
    }
  }

  /** Forgets the accumulated gradient and its memory. */
  public void clearGrad() {
    grad = null;
  }

  /** Adds {@code g} to the gradient; the gradient's memory lives outside any workspace scope. */
  void accumulate(Tensor g) {
    if (grad == null) {
      grad = Workspace.persistent(g::copy);
    } else {
      grad.addInPlace(g);
    }
  }

  /** Backpropagation from a scalar (one element) variable: seeds d(this)/d(this) = 1. */
  public void backward() {
    if (value.numel() != 1) {
      throw new IllegalArgumentException("backward: needs a scalar, but the output has shape "
          + java.util.Arrays.toString(value.shape()) + "; pass an explicit gradient");
    }
    backward(Tensor.ones(value.dtype(), value.shape()));
  }

  /** Backpropagation with an explicit upstream gradient of this variable's shape. */
  public void backward(Tensor seed) {
    Backprop.run(this, seed);
  }

  @Override
  public String toString() {
    return "Variable" + (name != null ? "(" + name + ")" : "") + "[" + value + "]"
        + (creator != null ? " <- " + creator.name() : "");
  }
}
