package org.sdpo.tensor.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;
import org.sdpo.tensor.Backend;
import org.sdpo.tensor.Backends;
import org.sdpo.tensor.DType;
import org.sdpo.tensor.Rng;
import org.sdpo.tensor.Tensor;

/**
 * {@link CudaBackend#linear}: x w + bias as one product with cuBLASLt's bias epilogue, or, where
 * the device refuses it, a product and an in-place add. On the fake device both give the bits of
 * a product followed by an add, in every precision, for contiguous and strided operands, one
 * launch against two.
 */
class BiasEpilogueTest {

  /** One linear on a fresh backend: its values and the launches it took. */
  private record Result(double[] values, long launches) {}

  private static Result run(CudaBackend.Precision precision, boolean refuse, boolean composed,
      double[] x, double[] w, double[] bias, int n, int k, int m, boolean transposedX,
      boolean transposedW) {
    Backend cpu = Backends.current();
    FakeDevice dev = new FakeDevice();
    if (refuse) {
      dev.refuseBiasEpilogue();
    }
    CudaBackend be = new CudaBackend(dev, precision, false);
    Backends.install(be);
    try {
      // x (n, k), either stored so or as the transpose of a (k, n) tensor
      Tensor xt = transposedX ? Tensor.of(DType.FLOAT32, transpose(x, n, k), k, n).permute(1, 0)
          : Tensor.of(DType.FLOAT32, x, n, k);
      // w (k, m), or stored (m, k) as nn.Linear stores it and used transposed
      Tensor wt = transposedW ? Tensor.of(DType.FLOAT32, transpose(w, k, m), m, k)
          : Tensor.of(DType.FLOAT32, w, k, m);
      Tensor bt = Tensor.of(DType.FLOAT32, bias, m);
      long l0 = be.kernelLaunches();
      Tensor y = composed ? xt.matmul(wt, false, transposedW).add(bt)
          : xt.linear(wt, transposedW, bt);
      long launches = be.kernelLaunches() - l0;
      return new Result(y.toDoubleArray(), launches);
    } finally {
      Backends.install(cpu);
    }
  }

  private static double[] transpose(double[] a, int rows, int cols) {
    double[] t = new double[a.length];
    for (int i = 0; i < rows; i++) {
      for (int j = 0; j < cols; j++) {
        t[j * rows + i] = a[i * cols + j];
      }
    }
    return t;
  }

  private static double[] gaussian(Rng rng, int n, double scale) {
    double[] d = new double[n];
    for (int i = 0; i < d.length; i++) {
      d[i] = scale * rng.nextGaussian();
    }
    return d;
  }

  @Test
  void theEpilogueTheFallbackAndAProductThenAnAddAgreeBitForBit() {
    Rng rng = new Rng(11);
    for (CudaBackend.Precision p : CudaBackend.Precision.values()) {
      for (int trial = 0; trial < 4; trial++) {
        int n = 1 + rng.nextInt(9);
        int k = 1 + rng.nextInt(12);
        int m = 1 + rng.nextInt(20);
        boolean transposedX = trial % 2 == 1;
        boolean transposedW = trial / 2 == 1;
        double[] x = gaussian(rng, n * k, 1);
        double[] w = gaussian(rng, k * m, 1);
        double[] b = gaussian(rng, m, 3);
        String what = p + " n " + n + " k " + k + " m " + m + (transposedX ? " xᵀ" : "")
            + (transposedW ? " wᵀ" : "");
        Result fused = run(p, false, false, x, w, b, n, k, m, transposedX, transposedW);
        Result fallback = run(p, true, false, x, w, b, n, k, m, transposedX, transposedW);
        Result composed = run(p, false, true, x, w, b, n, k, m, transposedX, transposedW);
        assertThat(fused.values()).as("epilogue vs product + add, " + what)
            .containsExactly(composed.values());
        assertThat(fallback.values()).as("refused epilogue vs product + add, " + what)
            .containsExactly(composed.values());
        // rows of m floats not 16 bytes apart: the bf16 mode writes the product padded and
        // copies it (CudaBackend.padRowsWanted), which the epilogue does not, so linear takes the
        // product and the add
        boolean padded = p == CudaBackend.Precision.BF16 && n > 1 && m % 4 != 0;
        assertThat(fused.launches()).as("the add is gone, " + what)
            .isEqualTo(composed.launches() - (padded ? 0 : 1));
        assertThat(fallback.launches()).as("the refused epilogue adds in place, " + what)
            .isEqualTo(composed.launches());
      }
    }
  }

  @Test
  void theBiasIsAddedToEveryRow() {
    // x = I (2 x 2), w = [[1, 2, 3], [4, 5, 6]], b = [10, 20, 30]: y = w + b on each row
    double[] x = {1, 0, 0, 1};
    double[] w = {1, 2, 3, 4, 5, 6};
    double[] b = {10, 20, 30};
    for (CudaBackend.Precision p : CudaBackend.Precision.values()) {
      assertThat(run(p, false, false, x, w, b, 2, 2, 3, false, false).values()).as(p.name())
          .containsExactly(11, 22, 33, 14, 25, 36);
    }
  }

  @Test
  void float64TakesTheDefaultsTwoCalls() {
    Backend cpu = Backends.current();
    CudaBackend be = new CudaBackend(new FakeDevice(), CudaBackend.Precision.FP32, false);
    Backends.install(be);
    try {
      Tensor x = Tensor.of(DType.FLOAT64, new double[] {1, 2, 3, 4}, 2, 2);
      Tensor w = Tensor.of(DType.FLOAT64, new double[] {1, 0, 0, 1}, 2, 2);
      Tensor b = Tensor.of(DType.FLOAT64, new double[] {0.5, -0.5}, 2);
      long l0 = be.kernelLaunches();
      assertThat(x.linear(w, false, b).toDoubleArray()).containsExactly(1.5, 1.5, 3.5, 3.5);
      assertThat(be.kernelLaunches() - l0).as("a product and an add").isEqualTo(2);
    } finally {
      Backends.install(cpu);
    }
  }

  @Test
  void theSwitchTurnsTheEpilogueOff() {
    String key = "sdpo.cuda.biasEpilogue";
    try {
      System.clearProperty(key);
      assertThat(CudaBackend.biasEpilogueWanted()).isTrue();
      System.setProperty(key, "0");
      assertThat(CudaBackend.biasEpilogueWanted()).isFalse();
      System.setProperty(key, "false");
      assertThat(CudaBackend.biasEpilogueWanted()).isFalse();
      double[] x = {1, 2};
      double[] w = {3};
      double[] b = {0.25};
      Result off = run(CudaBackend.Precision.FP32, false, false, x, w, b, 2, 1, 1, false, false);
      assertThat(off.values()).containsExactly(3.25, 6.25);
      assertThat(off.launches()).as("a product and an add").isEqualTo(2);
    } finally {
      System.clearProperty(key);
    }
  }

  @Test
  void cublasLtIsToldTheAlignmentEachPointerHas() {
    assertThat(JnaDriver.alignment(0x7a00_0000_0000L)).isEqualTo(256);
    assertThat(JnaDriver.alignment(0x7a00_0000_0100L + 4)).isEqualTo(4);
    assertThat(JnaDriver.alignment(0x7a00_0000_0000L + 48)).isEqualTo(16);
    assertThat(JnaDriver.alignment(0x7a00_0000_0000L + 128)).isEqualTo(128);
  }
}
