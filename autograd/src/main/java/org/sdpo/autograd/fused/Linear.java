package org.sdpo.autograd.fused;

import org.sdpo.autograd.Op;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.Tensor;

/**
 * y = x W + b: x (N, K), W (K, M), b (M) added to every row, y (N, M). One backend call forward
 * ({@link Tensor#linear}: a GPU adds b in the multiply's epilogue). Composed twin: x W + b, a
 * matmul and a broadcasting add, whose gradients these are.
 */
public final class Linear extends Op {
  private final Tensor x;
  private final Tensor w;
  private final int[] bShape;

  private Linear(Tensor x, Tensor w, int[] bShape) {
    this.x = x;
    this.w = w;
    this.bShape = bShape;
  }

  public static Variable apply(Variable x, Variable w, Variable b) {
    Tensor y = x.value().linear(w.value(), b.value()); // (N, M)
    return record(new Linear(x.value(), w.value(), b.shape()), y, x, w, b);
  }

  @Override
  public String name() {
    return "linear";
  }

  // dx = g Wᵀ (N, K), dW = xᵀ g (K, M), db = the column sums of g (M): b was broadcast over rows.
  @Override
  public Tensor[] backward(Tensor g) {
    return new Tensor[] {
      needsGrad(0) ? g.matmul(w, false, true) : null,
      needsGrad(1) ? x.matmul(g, true, false) : null,
      needsGrad(2) ? g.sumTo(bShape) : null
    };
  }
}
