package org.sdpo.autograd.fused;

import org.sdpo.autograd.Op;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.Tensor;

/**
 * y = x op(W) + b: x (N, K), op(W) (K, M) where op transposes W when it is stored (M, K)
 * (PyTorch's {@code nn.Linear}; GPT-2's {@code Conv1D} stores (K, M)), b (M) added to every row,
 * y (N, M). One backend call forward ({@link Tensor#linear}: a GPU adds b in the multiply's
 * epilogue). Composed twin: a matmul and a broadcasting add, whose gradients these are.
 */
public final class Linear extends Op {
  private final Tensor x;
  private final Tensor w;
  private final boolean tw;
  private final int[] bShape;

  private Linear(Tensor x, Tensor w, boolean tw, int[] bShape) {
    this.x = x;
    this.w = w;
    this.tw = tw;
    this.bShape = bShape;
  }

  public static Variable apply(Variable x, Variable w, boolean transposeW, Variable b) {
    Tensor y = x.value().linear(w.value(), transposeW, b.value()); // (N, M)
    return record(new Linear(x.value(), w.value(), transposeW, b.shape()), y, x, w, b);
  }

  @Override
  public String name() {
    return "linear";
  }

  /*
   * dx = g op(W)ᵀ (N, K); dW = xᵀ g (K, M), or its transpose gᵀ x (M, K) when W is stored
   * transposed; db = the column sums of g (M), since b was broadcast over the rows.
   */
  @Override
  public Tensor[] backward(Tensor g) {
    return new Tensor[] {
      needsGrad(0) ? g.matmul(w, false, !tw) : null,
      needsGrad(1) ? (tw ? g.matmul(x, true, false) : x.matmul(g, true, false)) : null,
      needsGrad(2) ? g.sumTo(bShape) : null
    };
  }
}
