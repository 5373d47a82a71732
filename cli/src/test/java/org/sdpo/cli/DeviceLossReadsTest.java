package org.sdpo.cli;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;
import org.sdpo.autograd.F;
import org.sdpo.autograd.Variable;
import org.sdpo.core.DistillConfig;
import org.sdpo.core.DistillationLoss;
import org.sdpo.core.Grpo;
import org.sdpo.tensor.Backend;
import org.sdpo.tensor.Backends;
import org.sdpo.tensor.DType;
import org.sdpo.tensor.Rng;
import org.sdpo.tensor.Tensor;
import org.sdpo.tensor.cuda.CudaBackend;
import org.sdpo.tensor.cuda.FakeDevice;

/**
 * SDPO's losses on a device read nothing back: the top-K distillation (the student's top-K
 * tokens ranked and both models' log-probabilities picked on the device) and the advantage-level
 * blend's coefficients, forward and backward, copy no byte to the host, where they used to copy
 * the (N, V) log-probabilities (and the blend's back again). The values are the CPU's.
 */
class DeviceLossReadsTest {
  private static final int N = 12;
  private static final int V = 300;

  private record Inputs(double[] z, double[] zq, int[] tokens, int[] seq, double[] mask,
      double[] adv) {
    static Inputs of(long seed) {
      Rng rng = new Rng(seed);
      double[] z = new double[N * V];
      double[] zq = new double[N * V];
      for (int i = 0; i < z.length; i++) {
        z[i] = 3 * rng.nextGaussian();
        zq[i] = 3 * rng.nextGaussian();
      }
      int[] tokens = new int[N];
      int[] seq = new int[N];
      double[] mask = new double[N];
      double[] adv = new double[N];
      for (int t = 0; t < N; t++) {
        tokens[t] = rng.nextInt(V);
        seq[t] = t / 4;
        mask[t] = t < 8 ? 1 : 0;
        adv[t] = rng.nextGaussian();
      }
      return new Inputs(z, zq, tokens, seq, mask, adv);
    }
  }

  /** {loss, gradient} of both losses; bytes[0] the bytes copied to the host meanwhile. */
  private static double[][] losses(Inputs in, FakeDevice device, long[] bytes) {
    Variable z = Variable.param(Tensor.of(DType.FLOAT32, in.z(), N, V));
    Tensor zq = Tensor.of(DType.FLOAT32, in.zq(), N, V);
    long before = device == null ? 0 : device.bytesToHost();
    DistillationLoss.Targets t = new DistillationLoss.Targets(in.tokens(), in.seq(), 3, in.mask(),
        null, null);
    Variable sdpo = DistillationLoss.compute(z, zq, t, DistillConfig.reverseKlTopK(20)).loss();
    Variable lp = F.logSoftmax(z);
    Variable blend = F.sum(Grpo.blendTokenLoss(lp, zq.logSoftmax(), in.tokens(), in.adv(), 0.9,
        1.0));
    F.add(sdpo, blend).backward();
    if (device != null) {
      bytes[0] = device.bytesToHost() - before;
    }
    return new double[][] {{sdpo.value().item(), blend.value().item()},
        z.grad().toDoubleArray()};
  }

  @Test
  void topKDistillationAndTheBlendReadNothingBackOnADevice() {
    Inputs in = Inputs.of(1);
    double[][] cpu = losses(in, null, null);
    Backend before = Backends.current();
    FakeDevice device = new FakeDevice();
    long[] bytes = new long[1];
    double[][] gpu;
    try {
      Backends.install(new CudaBackend(device, CudaBackend.Precision.FP32, false));
      gpu = losses(in, device, bytes);
    } finally {
      Backends.install(before);
    }
    assertThat(bytes[0]).as("bytes copied to the host by the losses and their backward")
        .isZero();
    for (int k = 0; k < 2; k++) {
      assertThat(gpu[0][k]).isCloseTo(cpu[0][k], org.assertj.core.data.Offset.offset(1e-5));
    }
    for (int i = 0; i < cpu[1].length; i++) {
      assertThat(gpu[1][i]).as("gradient %d", i)
          .isCloseTo(cpu[1][i], org.assertj.core.data.Offset.offset(1e-6));
    }
  }
}
