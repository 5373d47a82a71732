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

  /**
   * AdamW in double lanes against the scalar loop: bit-identical parameters and moments on random
   * lengths (not multiples of the vector width included), values over many magnitudes, with and
   * without weight decay.
   */
  @Test
  void adamwInVectorsIsTheScalarLoopBitForBit() {
    qt().withFixedSeed(21L).withExamples(200).forAll(integers().between(1, 300),
        integers().between(0, 1_000_000)).checkAssert((n, seed) -> {
          Rng rng = new Rng(seed);
          Tensor[] vec = {random(rng, n, 20), random(rng, n, 20), random(rng, n, 20), null};
          double[] vv = random(rng, n, 20).toDoubleArray();
          for (int i = 0; i < n; i++) {
            vv[i] = Math.abs(vv[i]); // second moments are not negative
          }
          vec[3] = Tensor.of(DType.FLOAT32, vv, n);
          Tensor[] sca = new Tensor[4];
          for (int k = 0; k < 4; k++) {
            sca[k] = vec[k].copy();
          }
          double wd = rng.nextBoolean() ? 0.1 : 0;
          int step = 1 + rng.nextInt(1000);
          double bc1 = 1 - Math.pow(0.9, step);
          double bc2 = 1 - Math.pow(0.999, step);
          Buf[] vb = new Buf[4];
          Buf[] sb = new Buf[4];
          for (int k = 0; k < 4; k++) {
            vb[k] = vec[k].buffer();
            sb[k] = sca[k].buffer();
          }
          // p, g, m, v in the kernels' order: tensors 0 (p), 1 (g), 2 (m), 3 (v)
          VectorKernels.adamw((Buf.F32) vb[0], (Buf.F32) vb[1], (Buf.F32) vb[2], (Buf.F32) vb[3],
              3e-4, 0.9, 0.999, 1e-8, wd, bc1, bc2, 0, n);
          FusedKernels.adamwScalar(sb[0], sb[1], sb[2], sb[3], 3e-4, 0.9, 0.999, 1e-8, wd, bc1,
              bc2, 0, n);
          for (int k = 0; k < 4; k++) {
            assertThat(floats(vec[k])).as("tensor " + k + ", n " + n).containsExactly(floats(sca[k]));
          }
        });
  }

  /**
   * The fused and elementwise kernels with vector paths (GELU forward and backward, layer norm
   * forward and backward with its column sums, the softmax backward, axpy, multiply and add by a
   * scalar, fill, column sums) give the scalar loops' bits: each backend call runs once with the
   * vector path and once with it switched off, on random row lengths (not multiples of the
   * vector width included) and values over many magnitudes.
   */
  @Test
  void fusedKernelsInVectorsAreTheScalarLoopsBitForBit() {
    Backend be = Backends.current();
    qt().withFixedSeed(33L).withExamples(150).forAll(integers().between(1, 70),
        integers().between(1, 9), integers().between(0, 1_000_000)).checkAssert((C, R, seed) -> {
          Rng rng = new Rng(seed);
          int n = R * C;
          Tensor x = random(rng, n, 6).reshape(R, C);
          Tensor g = random(rng, n, 6).reshape(R, C);
          Tensor gamma = random(rng, C, 3);
          Tensor beta = random(rng, C, 3);
          Tensor probs = Tensor.of(DType.FLOAT32, x.toDoubleArray(), R, C).softmax();
          double alpha = rng.nextGaussian();
          float[][] vector = run(be, x, g, gamma, beta, probs, alpha);
          VectorSupport.active = false;
          float[][] scalar;
          try {
            scalar = run(be, x, g, gamma, beta, probs, alpha);
          } finally {
            VectorSupport.active = VectorSupport.ENABLED;
          }
          for (int k = 0; k < vector.length; k++) {
            assertThat(vector[k]).as("output %d, %d x %d, seed %d", k, R, C, seed)
                .containsExactly(scalar[k]);
          }
        });
  }

  /** Every kernel with a vector path once, outputs in a fixed order. */
  private static float[][] run(Backend be, Tensor x, Tensor g, Tensor gamma, Tensor beta,
      Tensor probs, double alpha) {
    int R = x.dim(0);
    int C = x.dim(1);
    Tensor y = Tensor.zeros(DType.FLOAT32, R, C);
    Tensor t = Tensor.zeros(DType.FLOAT32, R, C);
    be.gelu(x, y, t);
    Tensor dx = Tensor.zeros(DType.FLOAT32, R, C);
    be.geluBackward(x, t, g, dx);
    Tensor ln = Tensor.zeros(DType.FLOAT32, R, C);
    Tensor mean = Tensor.zeros(DType.FLOAT64, R);
    Tensor rstd = Tensor.zeros(DType.FLOAT64, R);
    be.layerNorm(x, gamma, beta, 1e-5, ln, mean, rstd);
    Tensor lnDx = Tensor.zeros(DType.FLOAT32, R, C);
    Tensor dgamma = Tensor.zeros(DType.FLOAT32, C);
    Tensor dbeta = Tensor.zeros(DType.FLOAT32, C);
    be.layerNormBackward(x, gamma, mean, rstd, g, lnDx, dgamma, dbeta);
    Tensor sDx = Tensor.zeros(DType.FLOAT32, R, C);
    be.softmaxBackward(probs, g, 0.125, sDx);
    Tensor acc = g.copy();
    be.axpy(alpha, x, acc);
    Tensor mul = Tensor.zeros(DType.FLOAT32, R, C);
    be.scalar(Backend.ScalarOp.MUL, x, alpha, mul);
    Tensor add = Tensor.zeros(DType.FLOAT32, R, C);
    be.scalar(Backend.ScalarOp.ADD, x, alpha, add);
    Tensor filled = Tensor.zeros(DType.FLOAT32, R, C);
    be.fill(filled, alpha);
    Tensor colSum = Tensor.zeros(DType.FLOAT32, C);
    be.reduce(Backend.ReduceOp.SUM, x, new int[] {0}, colSum);
    Tensor colMean = Tensor.zeros(DType.FLOAT32, C);
    be.reduce(Backend.ReduceOp.MEAN, x, new int[] {0}, colMean);
    Tensor[] outs = {y, t, dx, ln, mean, rstd, lnDx, dgamma, dbeta, sDx, acc, mul, add, filled,
        colSum, colMean};
    float[][] f = new float[outs.length][];
    for (int k = 0; k < outs.length; k++) {
      f[k] = floats(outs[k]);
    }
    return f;
  }
}
