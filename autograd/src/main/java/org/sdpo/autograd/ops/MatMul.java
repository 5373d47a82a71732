package org.sdpo.autograd.ops;

import org.sdpo.autograd.Op;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.Tensor;

/**
 * C = op(A) @ op(B) over the last two axes (rank 2, or rank 3 with a shared batch axis), where op
 * optionally transposes. Transposes are handed to BLAS, never copied.
 */
public final class MatMul extends Op {
  private final Tensor a;
  private final Tensor b;
  private final boolean ta;
  private final boolean tb;

  private MatMul(Tensor a, Tensor b, boolean ta, boolean tb) {
    this.a = a;
    this.b = b;
    this.ta = ta;
    this.tb = tb;
  }

  public static Variable apply(Variable a, Variable b, boolean transposeA, boolean transposeB) {
    Tensor c = a.value().matmul(b.value(), transposeA, transposeB);
    return record(new MatMul(a.value(), b.value(), transposeA, transposeB), c, a, b);
  }

  @Override
  public String name() {
    return "matmul";
  }

  /*
   * For C = A B: dA = dC Bᵀ and dB = Aᵀ dC. With transposes, C = Aᵀ B gives dAᵀ = dC Bᵀ, so
   * dA = B dCᵀ, and C = A Bᵀ gives dBᵀ = Aᵀ dC, so dB = dCᵀ A. All four cases:
   *   dA = ta ? op(B) dCᵀ  : dC op(B)ᵀ       dB = tb ? dCᵀ op(A) : op(A)ᵀ dC
   */
  @Override
  public Tensor[] backward(Tensor g) {
    Tensor da = null;
    Tensor db = null;
    if (needsGrad(0)) {
      da = ta ? b.matmul(g, tb, true) : g.matmul(b, false, !tb);
    }
    if (needsGrad(1)) {
      db = tb ? g.matmul(a, true, ta) : a.matmul(g, !ta, false);
    }
    return new Tensor[] {da, db};
  }
}
