package org.sdpo.tensor.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;
import org.sdpo.tensor.Backend;
import org.sdpo.tensor.Backends;
import org.sdpo.tensor.DType;
import org.sdpo.tensor.Rng;
import org.sdpo.tensor.Tensor;

/**
 * The bf16 precision mode: a float32 matrix multiply whose operands are rounded to bfloat16
 * (to nearest, ties to even) and accumulated in float32, with transposed and batched operands.
 */
class Bf16MatmulTest {

  @Test
  void roundingMatchesTheDefinition() {
    assertThat(FakeKernels.fromBf16(FakeKernels.bf16(1.0f))).isEqualTo(1.0f);
    // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties to even gives 1
    assertThat(FakeKernels.fromBf16(FakeKernels.bf16(1.00390625f))).isEqualTo(1.0f);
    assertThat(FakeKernels.fromBf16(FakeKernels.bf16(1.01171875f))).isEqualTo(1.015625f);
    assertThat(FakeKernels.fromBf16(FakeKernels.bf16(-3.3e38f))).isEqualTo(-3.3e38f, org.assertj.core.data.Offset.offset(2e36f));
    assertThat(Float.isNaN(FakeKernels.fromBf16(FakeKernels.bf16(Float.NaN)))).isTrue();
  }

  @Test
  void operandsAreRoundedToBf16AndAccumulatedInFloat32() {
    Backend cpu = Backends.current();
    Rng rng = new Rng(3);
    int B = 2;
    int M = 3;
    int K = 5;
    int N = 4;
    double[] a = new double[B * K * M];
    double[] b = new double[B * K * N];
    for (int i = 0; i < a.length; i++) {
      a[i] = rng.nextGaussian();
    }
    for (int i = 0; i < b.length; i++) {
      b[i] = rng.nextGaussian();
    }
    // expected: A^T (stored (B, K, M)) times B (B, K, N) with both rounded to bf16, in double
    double[] expected = new double[B * M * N];
    for (int p = 0; p < B; p++) {
      for (int i = 0; i < M; i++) {
        for (int j = 0; j < N; j++) {
          double acc = 0;
          for (int k = 0; k < K; k++) {
            acc += FakeKernels.fromBf16(FakeKernels.bf16((float) a[(p * K + k) * M + i]))
                * (double) FakeKernels.fromBf16(FakeKernels.bf16((float) b[(p * K + k) * N + j]));
          }
          expected[(p * M + i) * N + j] = acc;
        }
      }
    }
    Backends.install(new CudaBackend(new FakeDevice(), CudaBackend.Precision.BF16));
    try {
      Tensor x = Tensor.of(DType.FLOAT32, a, B, K, M);
      Tensor y = Tensor.of(DType.FLOAT32, b, B, K, N);
      double[] got = x.matmul(y, true, false).toDoubleArray();
      for (int i = 0; i < got.length; i++) {
        assertThat(got[i]).as("element " + i).isCloseTo(expected[i],
            org.assertj.core.data.Offset.offset(1e-5 * (1 + Math.abs(expected[i]))));
      }
      // and it is not the float32 product: bf16 loses bits
      double[] exact = new double[got.length];
      for (int p = 0; p < B; p++) {
        for (int i = 0; i < M; i++) {
          for (int j = 0; j < N; j++) {
            for (int k = 0; k < K; k++) {
              exact[(p * M + i) * N + j] += (float) a[(p * K + k) * M + i] * (double) (float) b[(p * K + k) * N + j];
            }
          }
        }
      }
      double maxDiff = 0;
      for (int i = 0; i < got.length; i++) {
        maxDiff = Math.max(maxDiff, Math.abs(got[i] - exact[i]));
      }
      assertThat(maxDiff).isGreaterThan(1e-4).isLessThan(0.1);
    } finally {
      Backends.install(cpu);
    }
  }

  /**
   * The same product with A a strided view (its bf16 cast is the strided kernel, to_bf16_f32,
   * not the flat one), run as the kernels' CUDA source by the kernel emulator (skipped where it
   * cannot be built): the product of the bf16-rounded operands in double, to float accumulation.
   */
  @Test
  void aStridedOperandIsRoundedTooInTheEmulator() {
    Backend cpu = Backends.current();
    Rng rng = new Rng(5);
    int M = 6;
    int K = 20;
    int N = 3;
    double[] a = new double[M * K]; // stored (M, K), used as the view (K, M) transposed back
    double[] b = new double[K * N];
    for (int i = 0; i < a.length; i++) {
      a[i] = rng.nextGaussian();
    }
    for (int i = 0; i < b.length; i++) {
      b[i] = rng.nextGaussian();
    }
    KernelEmulator e = EmulatorLibrary.emulator(KernelEmulator.Order.FORWARD);
    Backends.install(new CudaBackend(new FakeDevice(null, e), CudaBackend.Precision.BF16));
    try {
      Tensor stored = Tensor.of(DType.FLOAT32, a, K, M);
      Tensor x = stored.transpose(0, 1); // (M, K), strided
      Tensor y = Tensor.of(DType.FLOAT32, b, K, N);
      double[] got = x.matmul(y, false, false).toDoubleArray();
      for (int i = 0; i < M; i++) {
        for (int j = 0; j < N; j++) {
          double want = 0;
          for (int k = 0; k < K; k++) {
            want += FakeKernels.fromBf16(FakeKernels.bf16((float) a[k * M + i]))
                * (double) FakeKernels.fromBf16(FakeKernels.bf16((float) b[k * N + j]));
          }
          assertThat(got[i * N + j]).as("element (%d, %d)", i, j).isCloseTo(want,
              org.assertj.core.data.Offset.offset(1e-5 * (1 + Math.abs(want))));
        }
      }
    } finally {
      Backends.install(cpu);
    }
  }

  /**
   * Rows whose bytes are not a multiple of 16 (CudaBackend.padRowsWanted): the bf16 copies laid
   * out with their rows padded to 8 elements and float32 outputs written padded and copied (the
   * default), and the copies padded alone (=operands), against the rows as they lie
   * (SDPO_CUDA_PAD_ROWS=0): the same bits for random shapes, ranks 2 and 3, every transpose, with
   * the emulator (the padded cast runs the strided cast kernel's source). The cast cache holds
   * the padded bytes.
   */
  @Test
  void paddedRowsGiveTheSameBits() {
    Rng rng = new Rng(9);
    KernelEmulator e = EmulatorLibrary.emulator(KernelEmulator.Order.FORWARD);
    for (int trial = 0; trial < 24; trial++) {
      int batch = trial % 3 == 2 ? 2 : 1;
      int M = 1 + rng.nextInt(13);
      int K = 1 + rng.nextInt(13);
      int N = 1 + rng.nextInt(13);
      boolean ta = rng.nextBoolean();
      boolean tb = rng.nextBoolean();
      double[] a = new double[batch * M * K];
      double[] b = new double[batch * K * N];
      for (int i = 0; i < a.length; i++) {
        a[i] = rng.nextGaussian();
      }
      for (int i = 0; i < b.length; i++) {
        b[i] = rng.nextGaussian();
      }
      int[] as = batch == 1 ? (ta ? new int[] {K, M} : new int[] {M, K})
          : (ta ? new int[] {batch, K, M} : new int[] {batch, M, K});
      int[] bs = batch == 1 ? (tb ? new int[] {N, K} : new int[] {K, N})
          : (tb ? new int[] {batch, N, K} : new int[] {batch, K, N});
      double[][] got = new double[3][];
      for (int padded = 0; padded < 3; padded++) { // none, operands and outputs, operands
        if (padded != 1) {
          System.setProperty("sdpo.cuda.padRows", padded == 0 ? "0" : "operands");
        }
        CudaBackend be;
        try {
          be = new CudaBackend(new FakeDevice(null, trial % 4 == 0 ? e : null),
              CudaBackend.Precision.BF16);
        } finally {
          System.clearProperty("sdpo.cuda.padRows");
        }
        Backend cpu = Backends.install(be);
        try {
          Tensor x = Tensor.of(DType.FLOAT32, a, as);
          Tensor y = Tensor.of(DType.FLOAT32, b, bs);
          got[padded] = x.matmul(y, ta, tb).toDoubleArray();
          if (padded == 1) {
            assertThat(be.castStats().bytesHeld()).as("bytes held, %s by %s",
                java.util.Arrays.toString(as), java.util.Arrays.toString(bs))
                .isEqualTo(copyBytes(as) + copyBytes(bs));
          }
        } finally {
          Backends.install(cpu);
        }
      }
      for (int padded = 1; padded < 3; padded++) {
        assertThat(got[padded]).as("%s by %s, transposes %s %s, padding %d",
            java.util.Arrays.toString(as), java.util.Arrays.toString(bs), ta, tb, padded)
            .isEqualTo(got[0]);
      }
    }
  }

  /**
   * Attention in the bf16 mode with rows that get padded (head size 5, 7 keys: the copies of Q, K,
   * V, dO and of P and dS), forward and backward, against the rows as they lie: the same bits.
   */
  @Test
  void attentionWithPaddedCopiesGivesTheSameBits() {
    Rng rng = new Rng(4);
    int[] qs = {2, 2, 7, 5};
    double[][] in = new double[4][2 * 2 * 7 * 5]; // q, k, v, g
    for (double[] a : in) {
      for (int i = 0; i < a.length; i++) {
        a[i] = rng.nextGaussian();
      }
    }
    double[][][] got = new double[2][][];
    for (int padded = 0; padded < 2; padded++) {
      if (padded == 0) {
        System.setProperty("sdpo.cuda.padRows", "0");
      }
      CudaBackend be;
      try {
        be = new CudaBackend(new FakeDevice(), CudaBackend.Precision.BF16);
      } finally {
        System.clearProperty("sdpo.cuda.padRows");
      }
      Backend cpu = Backends.install(be);
      try {
        Tensor[] t = new Tensor[4];
        for (int i = 0; i < 4; i++) {
          t[i] = Tensor.of(DType.FLOAT32, in[i], qs);
        }
        Tensor[] op = org.sdpo.tensor.Fused.attention(t[0], t[1], t[2], 0.4, null, true, 0);
        Tensor[] d = new Tensor[3];
        for (int i = 0; i < 3; i++) {
          d[i] = Tensor.empty(DType.FLOAT32, qs);
        }
        org.sdpo.tensor.Fused.attentionBackward(t[0], t[1], t[2], op[1], t[3], 0.4, d[0], d[1],
            d[2]);
        got[padded] = new double[][] {op[0].toDoubleArray(), op[1].toDoubleArray(),
          d[0].toDoubleArray(), d[1].toDoubleArray(), d[2].toDoubleArray()};
      } finally {
        Backends.install(cpu);
      }
    }
    for (int i = 0; i < 5; i++) {
      assertThat(got[1][i]).as("output %d", i).isEqualTo(got[0][i]);
    }
  }

  /** A padded bf16 copy's bytes: its rows padded to 8 elements where there are several. */
  private static long copyBytes(int[] shape) {
    int n = shape.length;
    int rows = 1;
    for (int i = 0; i < n - 1; i++) {
      rows *= shape[i];
    }
    int c = shape[n - 1];
    return 2L * rows * (shape[n - 2] > 1 ? (c + 7) / 8 * 8 : c);
  }
}
