package org.sdpo.tensor.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.sdpo.tensor.Backend;
import org.sdpo.tensor.Backends;
import org.sdpo.tensor.CapturedStep;
import org.sdpo.tensor.DType;
import org.sdpo.tensor.Fused;
import org.sdpo.tensor.Rng;
import org.sdpo.tensor.Tensor;

/**
 * The kernels over many tensors ({@link TensorTables}): a model's AdamW step and its gradients'
 * clipping in one launch each instead of one per tensor, element for element the arithmetic of
 * the one-tensor kernels, as their CUDA source (the kernel emulator) and as their Java twins; a
 * list first seen while a step is recorded goes one launch per tensor.
 */
class ManyTensorKernelsTest {
  private static final int[] SIZES = {3, 4096, 4097, 1, 9000, 70}; // across chunk boundaries

  /** A model's worth of parameters, gradients and moments, and what the update touches. */
  private static final class Model {
    final List<Tensor> ps = new ArrayList<>();
    final List<Tensor> gs = new ArrayList<>();
    final List<Tensor> ms = new ArrayList<>();
    final List<Tensor> vs = new ArrayList<>();
    final double[] wds = new double[SIZES.length];
    final Tensor step = Tensor.of(DType.FLOAT64, new double[] {3e-3, 0.271, 0.0975}, 3);

    Model(long seed) {
      Rng rng = new Rng(seed);
      for (int i = 0; i < SIZES.length; i++) {
        ps.add(Tensor.normal(rng, DType.FLOAT32, 0, 1, SIZES[i]));
        gs.add(Tensor.normal(rng, DType.FLOAT32, 0, 1, SIZES[i]));
        ms.add(Tensor.normal(rng, DType.FLOAT32, 0, 0.1, SIZES[i]));
        vs.add(Tensor.uniform(rng, DType.FLOAT32, 0, 0.1, SIZES[i]));
        wds[i] = i % 2 == 0 ? 0.1 : 0;
      }
    }

    void adamwOneByOne() {
      for (int i = 0; i < ps.size(); i++) {
        Fused.adamw(ps.get(i), gs.get(i), ms.get(i), vs.get(i), step, 0.9, 0.95, 1e-8, wds[i]);
      }
    }

    void adamwAtOnce() {
      Fused.adamw(ps, gs, ms, vs, step, 0.9, 0.95, 1e-8, wds);
    }

    /** Every parameter, moment and gradient, concatenated. */
    double[] state() {
      List<Double> all = new ArrayList<>();
      for (List<Tensor> l : List.of(ps, ms, vs, gs)) {
        for (Tensor t : l) {
          for (double d : t.toDoubleArray()) {
            all.add(d);
          }
        }
      }
      return all.stream().mapToDouble(Double::doubleValue).toArray();
    }
  }

  /** Runs f on a fresh backend over dev; returns the model's state and the launches f took. */
  private static Object[] on(CudaDriver dev, java.util.function.Consumer<Model> f) {
    Backend cpu = Backends.current();
    CudaBackend be = new CudaBackend(dev, CudaBackend.Precision.FP32, true);
    Backends.install(be);
    try {
      Model m = new Model(5);
      long l0 = be.kernelLaunches();
      f.accept(m);
      return new Object[] {m.state(), be.kernelLaunches() - l0};
    } finally {
      Backends.install(cpu);
    }
  }

  @Test
  void adamwOverAListIsTheOneTensorUpdateInOneLaunchAsJavaTwins() {
    sameUpdateInOneLaunch(null, "Java twins");
  }

  /** The same with the kernels' CUDA source (skipped where the emulator cannot be built). */
  @Test
  void adamwOverAListIsTheOneTensorUpdateInOneLaunchAsCudaSource() {
    sameUpdateInOneLaunch(EmulatorLibrary.emulator(KernelEmulator.Order.REVERSE),
        "CUDA source (emulated)");
  }

  private static void sameUpdateInOneLaunch(KernelEmulator e, String how) {
    Object[] one = on(new FakeDevice(null, e), Model::adamwOneByOne);
    Object[] many = on(new FakeDevice(null, e), Model::adamwAtOnce);
    assertThat((double[]) many[0]).as(how).containsExactly((double[]) one[0]);
    assertThat((long) one[1]).as(how + ": one launch per tensor").isEqualTo(SIZES.length);
    assertThat((long) many[1]).as(how + ": one launch for all").isEqualTo(1);
  }

  @Test
  void zeroingAModelsGradientsIsOneLaunch() {
    Object[] r = on(new FakeDevice(), m -> Fused.fill(m.gs, 0));
    double[] after = (double[]) r[0];
    int from = after.length - java.util.Arrays.stream(SIZES).sum(); // the gradients come last
    for (int i = from; i < after.length; i++) {
      assertThat(after[i]).as("gradient element " + (i - from)).isEqualTo(0.0);
    }
    assertThat(after[0]).as("the parameters are left alone").isNotEqualTo(0.0);
    assertThat((long) r[1]).isEqualTo(1);
  }

  @Test
  void clippingManyTensorsTakesThreeLaunches() {
    double[] squares = new double[1];
    double[] norm = new double[1];
    Object[] r = on(new FakeDevice(), m -> {
      for (Tensor g : m.gs) {
        for (double d : g.toDoubleArray()) {
          squares[0] += d * d;
        }
      }
      norm[0] = Fused.clipByGlobalNorm(m.gs, 1.0).item();
    });
    assertThat(norm[0]).isCloseTo(Math.sqrt(squares[0]),
        org.assertj.core.data.Offset.offset(1e-9 * Math.sqrt(squares[0])));
    // the partial sums, the decision, the scaling; reading values back launches nothing
    assertThat((long) r[1]).isEqualTo(3);
    double[] after = (double[]) r[0];
    double scaled = 0; // the gradients come last in the state: scaled to a norm of 1
    int from = after.length - java.util.Arrays.stream(SIZES).sum();
    for (int i = from; i < after.length; i++) {
      scaled += after[i] * after[i];
    }
    assertThat(Math.sqrt(scaled)).isCloseTo(1.0, org.assertj.core.data.Offset.offset(1e-5));
  }

  @Test
  void aListFirstSeenWhileRecordingGoesTensorByTensorAndReplaysTheSame() {
    Backend cpu = Backends.current();
    CudaBackend be = new CudaBackend(new FakeDevice(), CudaBackend.Precision.FP32, true);
    Backends.install(be);
    try {
      Model recorded = new Model(5);
      Model eager = new Model(5);
      try (CapturedStep s = be.captureStep(recorded::adamwAtOnce)) {
        assertThat(s.launches()).as("no table yet: one launch per tensor").isEqualTo(SIZES.length);
        s.replay();
        s.replay();
      }
      eager.adamwAtOnce(); // outside a recording: the table is made, one launch
      eager.adamwAtOnce();
      assertThat(recorded.state()).containsExactly(eager.state());
      Model again = new Model(5);
      again.adamwAtOnce(); // a table for these tensors now exists ...
      try (CapturedStep s = be.captureStep(again::adamwAtOnce)) {
        assertThat(s.launches()).as("... so the recording takes it").isEqualTo(1);
      }
    } finally {
      Backends.install(cpu);
    }
  }
}
