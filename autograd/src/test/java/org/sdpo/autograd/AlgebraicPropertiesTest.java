package org.sdpo.autograd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;
import static org.quicktheories.QuickTheory.qt;
import static org.quicktheories.generators.Generate.longRange;
import static org.quicktheories.generators.Generate.range;

import org.apache.commons.math3.linear.Array2DRowRealMatrix;
import org.apache.commons.math3.linear.RealMatrix;
import org.apache.commons.math3.util.FastMath;
import org.junit.jupiter.api.Test;
import org.sdpo.tensor.DType;
import org.sdpo.tensor.Rng;
import org.sdpo.tensor.Tensor;

/** Algebraic laws that hold for any input, checked on random shapes and values. */
class AlgebraicPropertiesTest {
  private static final DType D = DType.FLOAT64;

  @Test
  void gradientOfASumIsTheSumOfGradients() {
    qt().withFixedSeed(1L).withExamples(30)
        .forAll(range(1, 4), range(1, 4), longRange(0, 1_000_000))
        .checkAssert((n, m, seed) -> {
          Tensor x0 = Tensor.normal(new Rng(seed), D, 0, 1, n, m);
          Variable a = Variable.param(x0.copy());
          F.sum(F.add(F.tanh(a), F.mul(a, a))).backward();
          Variable b = Variable.param(x0.copy());
          F.sum(F.tanh(b)).backward();
          F.sum(F.mul(b, b)).backward(); // accumulates into the same gradient
          assertThat(a.grad().maxAbsDiff(b.grad())).isLessThan(1e-12);
        });
  }

  @Test
  void chainRuleThroughComposition() {
    // d/dx sigmoid(x^2) = sigmoid'(x^2) * 2x, compared element by element
    qt().withFixedSeed(2L).withExamples(30)
        .forAll(range(1, 6), longRange(0, 1_000_000))
        .checkAssert((n, seed) -> {
          Tensor x0 = Tensor.normal(new Rng(seed), D, 0, 1, n);
          Variable x = Variable.param(x0);
          F.sum(F.sigmoid(F.pow(x, 2))).backward();
          double[] xs = x0.toDoubleArray();
          double[] g = x.grad().toDoubleArray();
          for (int i = 0; i < n; i++) {
            double s = 1 / (1 + FastMath.exp(-xs[i] * xs[i]));
            assertThat(g[i]).isCloseTo(s * (1 - s) * 2 * xs[i], within(1e-12));
          }
        });
  }

  @Test
  void softmaxRowsSumToOneAndLogSoftmaxIsLogOfSoftmax() {
    qt().withFixedSeed(3L).withExamples(40)
        .forAll(range(1, 5), range(1, 9), longRange(0, 1_000_000))
        .checkAssert((rows, cols, seed) -> {
          Tensor x = Tensor.normal(new Rng(seed), D, 0, 10, rows, cols);
          Tensor p = F.softmax(Variable.constant(x)).value();
          Tensor lp = F.logSoftmax(Variable.constant(x)).value();
          double[] sums = p.sum(false, 1).toDoubleArray();
          for (double s : sums) {
            assertThat(s).isCloseTo(1.0, within(1e-12));
          }
          assertThat(lp.maxAbsDiff(p.log())).isLessThan(1e-9);
        });
  }

  @Test
  void matmulAgreesWithCommonsMath() {
    qt().withFixedSeed(4L).withExamples(30)
        .forAll(range(1, 6), range(1, 6), range(1, 6), longRange(0, 1_000_000))
        .checkAssert((m, k, n, seed) -> {
          Rng rng = new Rng(seed);
          Tensor a = Tensor.normal(rng, D, 0, 1, m, k);
          Tensor b = Tensor.normal(rng, D, 0, 1, k, n);
          RealMatrix ref = matrix(a).multiply(matrix(b));
          Tensor c = F.matmul(Variable.constant(a), Variable.constant(b)).value();
          for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
              assertThat(c.get(i, j)).isCloseTo(ref.getEntry(i, j), within(1e-12));
            }
          }
          // and the gradient of sum(A B) w.r.t. A is 1 Bᵀ: row sums of B
          Variable va = Variable.param(a);
          F.sum(F.matmul(va, Variable.constant(b))).backward();
          RealMatrix ones = new Array2DRowRealMatrix(m, n).scalarAdd(1);
          RealMatrix dA = ones.multiply(matrix(b).transpose());
          for (int i = 0; i < m; i++) {
            for (int j = 0; j < k; j++) {
              assertThat(va.grad().get(i, j)).isCloseTo(dA.getEntry(i, j), within(1e-12));
            }
          }
        });
  }

  @Test
  void elementwiseOpsAgreeWithDoubleArithmetic() {
    qt().withFixedSeed(5L).withExamples(30)
        .forAll(range(1, 8), longRange(0, 1_000_000))
        .checkAssert((n, seed) -> {
          Rng rng = new Rng(seed);
          Tensor a = Tensor.normal(rng, D, 0, 1, n);
          Tensor b = Tensor.uniform(rng, D, 0.5, 2, n);
          Variable va = Variable.constant(a);
          Variable vb = Variable.constant(b);
          double[] x = a.toDoubleArray();
          double[] y = b.toDoubleArray();
          double[] div = F.div(va, vb).value().toDoubleArray();
          double[] gelu = F.gelu(va).value().toDoubleArray();
          double[] lg = F.log(vb).value().toDoubleArray();
          for (int i = 0; i < n; i++) {
            assertThat(div[i]).isCloseTo(x[i] / y[i], within(1e-14));
            assertThat(lg[i]).isCloseTo(FastMath.log(y[i]), within(1e-14));
            double u = Math.sqrt(2 / Math.PI) * (x[i] + 0.044715 * x[i] * x[i] * x[i]);
            assertThat(gelu[i]).isCloseTo(0.5 * x[i] * (1 + FastMath.tanh(u)), within(1e-14));
          }
        });
  }

  @Test
  void crossEntropyIgnoresMaskedRowsAndIsExactlyZeroWhenAllAreMasked() {
    Tensor logits = Tensor.normal(new Rng(6), D, 0, 1, 3, 5);
    Variable x = Variable.param(logits);
    Variable loss = F.crossEntropy(x, new int[] {-100, -100, -100}, -100);
    assertThat(loss.value().item()).isEqualTo(0.0);
    loss.backward();
    assertThat(x.grad().maxAbsDiff(Tensor.zeros(D, 3, 5))).isEqualTo(0.0);
    // one valid row: loss = -log softmax of that row's target
    Variable y = Variable.param(logits);
    double l = F.crossEntropy(y, new int[] {-100, 2, -100}, -100).value().item();
    assertThat(l).isCloseTo(-logits.logSoftmax().get(1, 2), within(1e-14));
  }

  @Test
  void logSoftmaxIsStableForExtremeLogitsInFloat32() {
    Tensor x = Tensor.of(DType.FLOAT32, new float[] {1e30f, -1e30f, 0f, 88f, -88f, 3e38f}, 2, 3);
    Variable v = Variable.param(x);
    Variable lp = F.logSoftmax(v);
    assertThat(lp.value().isFinite()).isTrue();
    F.sum(lp).backward();
    assertThat(v.grad().isFinite()).isTrue();
  }

  private static RealMatrix matrix(Tensor t) {
    int r = t.dim(0);
    int c = t.dim(1);
    double[][] d = new double[r][c];
    for (int i = 0; i < r; i++) {
      for (int j = 0; j < c; j++) {
        d[i][j] = t.get(i, j);
      }
    }
    return new Array2DRowRealMatrix(d, false);
  }
}
