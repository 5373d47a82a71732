package org.sdpo.tensor;

import static org.assertj.core.api.Assertions.assertThat;
import static org.quicktheories.QuickTheory.qt;
import static org.quicktheories.generators.SourceDSL.integers;

import org.junit.jupiter.api.Test;
import org.sdpo.tensor.Backend.BinaryOp;

/**
 * The vector kernels against the scalar loops they replace: bit-identical results on random
 * shapes (lengths that are not multiples of the vector width included), every broadcasting form,
 * values from tiny to huge, and in place.
 */
class VectorKernelsTest {
  @Test
  void theTestsRunWithTheVectorKernels() {
    // surefire passes --add-modules jdk.incubator.vector; without it this suite tests nothing
    assertThat(VectorSupport.ENABLED).as(VectorSupport.describe()).isTrue();
    assertThat(Backends.describe()).contains("vector kernels: ");
  }

  private static Tensor random(Rng rng, int n, int scaleExp) {
    double[] d = new double[n];
    for (int i = 0; i < n; i++) {
      double mag = Math.pow(2, rng.nextInt(2 * scaleExp + 1) - scaleExp);
      d[i] = (rng.nextDouble() * 2 - 1) * mag;
      if (rng.nextInt(50) == 0) {
        d[i] = 0;
      }
    }
    return Tensor.of(DType.FLOAT32, d, n);
  }

  private static float[] floats(Tensor t) {
    double[] d = t.toDoubleArray();
    float[] f = new float[d.length];
    for (int i = 0; i < d.length; i++) {
      f[i] = (float) d[i];
    }
    return f;
  }

  @Test
  void binaryRowsIsBitIdenticalToTheScalarLoops() {
    Backend be = Backends.current();
    qt().withExamples(300).forAll(integers().between(1, 70), integers().between(1, 9),
        integers().between(0, 3), integers().between(0, Integer.MAX_VALUE)).checkAssert(
            (inner, rows, form, seed) -> {
              Rng rng = new Rng(seed.longValue());
              int n = inner * rows;
              int aPeriod = form == 1 ? inner : n; // a a row repeated (e.g. a bias) or full
              int bPeriod = form == 2 ? inner : form == 3 ? 1 : n;
              if (form == 1) {
                bPeriod = n;
              }
              int exp = 1 + rng.nextInt(120);
              Tensor a = random(rng, aPeriod, exp);
              Tensor b = random(rng, bPeriod, exp);
              for (BinaryOp op : new BinaryOp[] {BinaryOp.ADD, BinaryOp.SUB, BinaryOp.MUL,
                  BinaryOp.DIV}) {
                Tensor v = Tensor.zeros(DType.FLOAT32, n);
                Tensor s = Tensor.zeros(DType.FLOAT32, n);
                JavaKernels.binaryRows(op, be.buffer(a), aPeriod, be.buffer(b), bPeriod,
                    be.buffer(v));
                JavaKernels.binaryRowsScalar(op, be.buffer(a), aPeriod, be.buffer(b), bPeriod,
                    be.buffer(s));
                assertThat(floats(v)).as("%s, n %d, periods %d/%d", op, n, aPeriod, bPeriod)
                    .containsExactly(floats(s));
              }
            });
  }

  @Test
  void inPlaceAndAtAnOffsetAsTheScalarLoops() {
    Backend be = Backends.current();
    Rng rng = new Rng(5);
    for (int n : new int[] {1, 15, 16, 17, 33, 1000}) {
      Tensor big = random(rng, n + 7, 20);
      Tensor view = big.slice(0, 7, 7 + n); // a view at an element offset of 7
      Tensor x = Tensor.of(DType.FLOAT32, view.toDoubleArray(), n); // the same values, own buffer
      Tensor y = random(rng, n, 20);
      float[] expected = new float[n];
      float[] xs = floats(view);
      float[] ys = floats(y);
      for (int i = 0; i < n; i++) {
        expected[i] = (float) ((double) xs[i] + (double) ys[i]);
      }
      if (be.isContiguous(view)) {
        JavaKernels.binaryRows(BinaryOp.ADD, be.buffer(view), n, be.buffer(y), n, be.buffer(view));
        assertThat(floats(view)).containsExactly(expected);
      }
      JavaKernels.binaryRows(BinaryOp.ADD, be.buffer(x), n, be.buffer(y), n, be.buffer(x));
      assertThat(floats(x)).containsExactly(expected);
    }
  }
}
