package org.sdpo.tensor.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;
import org.sdpo.tensor.Backend;
import org.sdpo.tensor.Backends;
import org.sdpo.tensor.CapturedStep;
import org.sdpo.tensor.DType;
import org.sdpo.tensor.Fused;
import org.sdpo.tensor.Indices;
import org.sdpo.tensor.Rng;
import org.sdpo.tensor.Tensor;

/**
 * Top-K on the device (SDPO's distillation over the student's top-K tokens): the ids stay in
 * device memory, so ranking a vocabulary, picking both models' log-probabilities at the ids and
 * the gradient's scatter copy nothing to the host, and can be recorded; the ids match the CPU's
 * (the conformance suite compares them with the reference backend on every backend). A K above
 * the kernel's limit is ranked on the host and gives the same ids.
 */
class TopKTest {
  private static final int N = 6;
  private static final int V = 5000;

  private static double[] logits(long seed) {
    Rng rng = new Rng(seed);
    double[] z = new double[N * V];
    for (int i = 0; i < z.length; i++) {
      z[i] = Math.round(4 * rng.nextGaussian() * 8) / 8.0; // ties
    }
    return z;
  }

  private static int[] cpuTopK(double[] z, int K) {
    return Tensor.of(DType.FLOAT32, z, N, V).topK(K).values();
  }

  @Test
  void rankingAndPickingReadNothingBackAndMatchTheCpu() {
    double[] z = logits(3);
    int K = 20;
    int[] expected = cpuTopK(z, K);
    Backend cpu = Backends.current();
    FakeDevice dev = new FakeDevice();
    CudaBackend be = new CudaBackend(dev, CudaBackend.Precision.FP32, false);
    Backends.install(be);
    try {
      Tensor lp = Tensor.of(DType.FLOAT32, z, N, V).logSoftmax();
      Tensor lq = Tensor.of(DType.FLOAT32, logits(4), N, V).logSoftmax();
      long before = dev.bytesToHost();
      Indices ids = lp.topK(K);
      Tensor lpK = lp.pick(ids, K); // (N, K)
      Tensor lqK = lq.pick(ids, K);
      Tensor grad = Fused.pickBackward(lpK, ids, new int[] {N, V}); // (N, V)
      assertThat(dev.bytesToHost()).as("bytes copied to the host").isEqualTo(before);
      assertThat(ids.bound()).isEqualTo(V);
      assertThat(ids.values()).containsExactly(expected);
      double[] picked = lpK.toDoubleArray();
      double[] all = lp.toDoubleArray();
      for (int i = 0; i < N * K; i++) {
        assertThat(picked[i]).isEqualTo(all[i / K * V + expected[i]]);
      }
      assertThat(lqK.toDoubleArray()[0]).isEqualTo(lq.toDoubleArray()[expected[0]]);
      assertThat(grad.sum().item()).isEqualTo(lpK.sum().item(), org.assertj.core.data.Offset
          .offset(1e-3));
    } finally {
      Backends.install(cpu);
    }
  }

  @Test
  void rankingRecordsAndReplaysOnNewValues() {
    int K = 7;
    double[] first = logits(5);
    double[] second = logits(6);
    Backend cpu = Backends.current();
    CudaBackend be = new CudaBackend(new FakeDevice(), CudaBackend.Precision.FP32, true);
    Backends.install(be);
    try {
      Tensor x = Tensor.of(DType.FLOAT32, first, N, V);
      Tensor out = Tensor.of(DType.FLOAT32, new double[N * K], N, K);
      try (CapturedStep s = be.captureStep(() -> out.assign(x.pick(x.topK(K), K)))) {
        for (double[] z : new double[][] {first, second}) {
          x.assign(Tensor.of(DType.FLOAT32, z, N, V));
          s.replay();
          int[] ids = cpuTopK(z, K);
          double[] got = out.toDoubleArray();
          for (int i = 0; i < N * K; i++) {
            assertThat(got[i]).as("pick %d", i).isEqualTo((double) (float) z[i / K * V + ids[i]]);
          }
        }
      }
    } finally {
      Backends.install(cpu);
    }
  }

  @Test
  void aKAboveTheKernelsLimitIsRankedOnTheHostAlike() {
    int K = CudaBackend.TOPK_MAX + 3;
    double[] z = logits(7);
    int[] expected = cpuTopK(z, K);
    Backend cpu = Backends.current();
    Backends.install(new CudaBackend(new FakeDevice(), CudaBackend.Precision.FP32, false));
    try {
      assertThat(Tensor.of(DType.FLOAT32, z, N, V).topK(K).values()).containsExactly(expected);
    } finally {
      Backends.install(cpu);
    }
  }
}
