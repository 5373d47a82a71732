package org.sdpo.transformer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.sdpo.autograd.F;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.Backend;
import org.sdpo.tensor.Backends;
import org.sdpo.tensor.CapturedStep;
import org.sdpo.tensor.DType;
import org.sdpo.tensor.Rng;
import org.sdpo.tensor.Tensor;
import org.sdpo.tensor.cuda.CudaBackend;
import org.sdpo.tensor.cuda.FakeDevice;
import org.sdpo.transformer.train.AdamW;
import org.sdpo.transformer.train.GradClip;
import org.sdpo.transformer.train.RecordedUpdate;

/**
 * A GPT-2 training step recorded as a graph on the fake device and replayed with new token ids,
 * targets and learning rates each time gives, bit for bit, what running the step itself gives:
 * the same losses, gradient norms and parameters, with the same kernels (one replay launches
 * what one eager step launches). This is what the CUDA backend's recording (CUDA graphs) rests
 * on: every value that changes between steps is read from device memory, nothing is read back
 * while recording, and the recorded step's memory is nobody else's.
 */
class CapturedStepTest {
  static final int B = 3;
  static final int T = 8;
  static final int V = 11;
  static final int STEPS = 6;
  static final int EAGER = 2; // steps run before recording (the first allocates the gradients)

  /** What a run of STEPS steps ends with. */
  record Run(double[] losses, double[] norms, List<double[]> params, long launchesPerStep) {}

  static Gpt model() {
    // clip at 0.05: the norms are around 0.1-1, so both branches of clipping are replayed
    return Gpt.init(GptConfig.of(V, T, 16, 2, 2), DType.FLOAT32, new Rng(5));
  }

  static void batch(int step, int[] x, int[] y) {
    Rng r = new Rng(100 + step);
    for (int i = 0; i < x.length; i++) {
      x[i] = r.nextInt(V);
      y[i] = i % 5 == 4 ? -100 : r.nextInt(V); // some ignored targets, a different set each step
      if (step % 2 == 1 && i < T) {
        y[i] = -100; // and a changing count of them
      }
    }
  }

  /** Ids and targets of step 0. */
  static int[][] firstBatch() {
    int[][] xy = {new int[B * T], new int[B * T]};
    batch(0, xy[0], xy[1]);
    return xy;
  }

  static double lr(int step) {
    return 1e-2 * (1 + step) / STEPS;
  }

  static <T> T onFakeDevice(java.util.function.Supplier<T> body) {
    return onFakeDevice(CudaBackend.Precision.FP32, body);
  }

  static <T> T onFakeDevice(CudaBackend.Precision p, java.util.function.Supplier<T> body) {
    Backend cpu = Backends.current();
    Backends.install(new CudaBackend(new FakeDevice(), p));
    try {
      return body.get();
    } finally {
      Backends.install(cpu);
    }
  }

  static Run eager(CudaBackend.Precision p) {
    return eagerRun(new CudaBackend(new FakeDevice(), p));
  }

  /** Steps 0..steps-1 run kernel by kernel; their losses and norms; one step's launches. */
  static long eagerSteps(Gpt m, AdamW opt, int[] x, int[] y, int steps, double[] losses,
      double[] norms) {
    long launches = 0;
    for (int s = 0; s < steps; s++) {
      batch(s, x, y);
      long l0 = Backends.current().kernelLaunches();
      Tensor loss = step(m, x, y)[0];
      opt.step(lr(s));
      m.zeroGrad();
      launches = Backends.current().kernelLaunches() - l0;
      losses[s] = loss.item();
      norms[s] = lastNorm.item();
    }
    return launches;
  }

  static Tensor lastNorm;

  /** Forward, loss, backward and clipping: the loss (and the norm, in lastNorm). */
  static Tensor[] step(Gpt m, int[] x, int[] y) {
    Variable loss = F.crossEntropy(F.reshape(m.forward(x, B, T), B * T, -1), y, -100);
    loss.backward();
    lastNorm = GradClip.clipOnDevice(m.namedParameters().values(), 0.05);
    return new Tensor[] {loss.value()};
  }

  static List<double[]> params(Gpt m) {
    List<double[]> p = new ArrayList<>();
    m.namedParameters().values().forEach(v -> p.add(v.value().toDoubleArray()));
    return p;
  }

  /** In bf16 each multiply also casts its operands into scratch memory the recording keeps. */
  @ParameterizedTest
  @EnumSource(value = CudaBackend.Precision.class, names = {"FP32", "BF16"})
  void replaysGiveTheEagerStepsBitForBit(CudaBackend.Precision precision) {
    Run expected = eager(precision);
    Run replayed = onFakeDevice(precision, () -> {
      Gpt m = model();
      AdamW opt = new AdamW(m.namedParameters(), AdamW.Settings.gpt());
      int[] x = new int[B * T];
      int[] y = new int[B * T];
      double[] losses = new double[STEPS];
      double[] norms = new double[STEPS];
      eagerSteps(m, opt, x, y, EAGER, losses, norms);
      Tensor[] loss = new Tensor[1];
      Tensor[] norm = new Tensor[1];
      long l0 = Backends.current().kernelLaunches();
      try (CapturedStep g = Backends.current().captureStep(() -> {
        loss[0] = step(m, x, y)[0];
        norm[0] = lastNorm;
        opt.apply();
        m.zeroGrad();
      })) {
        long recorded = Backends.current().kernelLaunches() - l0;
        assertThat(g.launches()).as("launches recorded").isEqualTo((int) recorded)
            .isEqualTo((int) expected.launchesPerStep());
        for (int s = EAGER; s < STEPS; s++) {
          batch(s, x, y); // the same arrays, refilled in place
          opt.prepare(lr(s));
          g.replay();
          losses[s] = loss[0].item();
          norms[s] = norm[0].item();
        }
        // one launch per replay (the graph), after the launches recorded
        assertThat(Backends.current().kernelLaunches() - l0).isEqualTo(recorded + STEPS - EAGER);
      }
      return new Run(losses, norms, params(m), 0);
    });
    assertThat(replayed.losses()).containsExactly(expected.losses());
    assertThat(replayed.norms()).containsExactly(expected.norms());
    assertThat(java.util.Arrays.stream(expected.norms()).filter(n -> n > 0.05).count())
        .as("steps that clipped").isPositive();
    for (int i = 0; i < expected.params().size(); i++) {
      assertThat(replayed.params().get(i)).as("parameter " + i)
          .containsExactly(expected.params().get(i));
    }
  }

  /**
   * The bf16 mode's cast cache rounds a tensor once for all the multiplies it enters while it is
   * unchanged: AdamW's update and every new activation make new copies, and the steps come out
   * bit for bit as without the cache, with fewer cast kernels (the fake device also checks every
   * copy it hands out against a fresh rounding).
   */
  @Test
  void theBf16CastCacheChangesNoBitAndCastsEachOperandOnce() {
    long[] casts = new long[4];
    Run[] runs = new Run[2];
    for (int withCache = 0; withCache < 2; withCache++) {
      CudaBackend be = new CudaBackend(new FakeDevice(), CudaBackend.Precision.BF16, true,
          withCache == 1 ? 64L << 20 : 0);
      runs[withCache] = eagerRun(be);
      casts[2 * withCache] = be.castStats().made();
      casts[2 * withCache + 1] = be.castStats().reused();
    }
    assertSameBits(runs[1], runs[0]);
    assertThat(casts[0] + casts[1]).as("without the cache nothing is kept").isZero();
    long reused = casts[3];
    long made = casts[2];
    // every operand enters two products of a step: a linear layer's X, W (Y = X W), dY, W
    // (dX = dY Wᵀ) and X, dY (dW = Xᵀ dY); attention's Q, K, P, V, dO and dS likewise
    assertThat(reused).as("copies reused").isEqualTo(made);
    assertThat(runs[1].launchesPerStep()).as("a cast kernel fewer for each reuse")
        .isEqualTo(runs[0].launchesPerStep() - reused / STEPS);
  }

  /**
   * Attention's heads read and written in place (SDPO_CUDA_HEADS_IN_PLACE=1: views of the
   * projection's output, products per batch row) against the copies the small shapes take by
   * default: the same bits, the copies gone, and in bf16 every operand's copy still reused once.
   */
  @ParameterizedTest
  @EnumSource(value = CudaBackend.Precision.class, names = {"FP32", "BF16"})
  void headsReadInPlaceChangeNoBit(CudaBackend.Precision precision) {
    Run[] runs = new Run[2];
    CudaBackend[] bes = new CudaBackend[2];
    for (int inPlace = 0; inPlace < 2; inPlace++) {
      bes[inPlace] = backend(precision, "sdpo.cuda.headsInPlace", inPlace == 1 ? "1" : null);
      runs[inPlace] = eagerRun(bes[inPlace]);
    }
    assertSameBits(runs[1], runs[0]);
    // a layer's copies (qkv in head order, O into y, dO, dQ, dK, dV into dqkv: 6 launches) gone;
    // a product with an uneven view runs once per batch row: in float32 all six of attention's
    // (Q, K, V, dO are views), in bf16 the four that write a view (they read the cast copies)
    int layers = 2;
    int perRow = precision == CudaBackend.Precision.BF16 ? 4 : 6;
    assertThat(runs[1].launchesPerStep()).as("launches per step, heads in place")
        .isEqualTo(runs[0].launchesPerStep() + layers * (perRow * (B - 1) - 6));
    if (precision == CudaBackend.Precision.BF16) {
      assertThat(bes[1].castStats().reused()).as("copies reused")
          .isEqualTo(bes[1].castStats().made());
    }
  }

  /**
   * The bf16 mode's padded rows (its copies of the logits' gradient, 11 words a row, laid out 16
   * apart; the logits written 12 apart and copied) against rows as they lie (SDPO_CUDA_PAD_ROWS=0)
   * and against the copies padded alone (=operands): the same bits, one launch more a step with
   * the outputs padded (the logits' copy), every operand copy reused once.
   */
  @Test
  void paddedRowsChangeNoBit() {
    String[] modes = {"0", "operands", null}; // null: the default, operands and outputs
    Run[] runs = new Run[3];
    CudaBackend[] bes = new CudaBackend[3];
    for (int m = 0; m < 3; m++) {
      bes[m] = backend(CudaBackend.Precision.BF16, "sdpo.cuda.padRows", modes[m]);
      runs[m] = eagerRun(bes[m]);
    }
    for (int m = 1; m < 3; m++) {
      assertSameBits(runs[m], runs[0]);
      assertThat(bes[m].castStats().reused()).as("copies reused")
          .isEqualTo(bes[m].castStats().made());
      assertThat(bes[m].castStats().made()).isEqualTo(bes[0].castStats().made());
    }
    assertThat(runs[1].launchesPerStep()).as("launches per step, operands padded")
        .isEqualTo(runs[0].launchesPerStep());
    assertThat(runs[2].launchesPerStep()).as("launches per step, outputs padded too")
        .isEqualTo(runs[0].launchesPerStep() + 1);
  }

  /**
   * A backend that may record, on a fresh fake device, made while {@code property} is
   * {@code value} (null: not set).
   */
  static CudaBackend backend(CudaBackend.Precision p, String property, String value) {
    if (value != null) {
      System.setProperty(property, value);
    }
    try {
      return new CudaBackend(new FakeDevice(), p, true);
    } finally {
      System.clearProperty(property);
    }
  }

  /** STEPS steps of a fresh model run kernel by kernel on {@code be}. */
  static Run eagerRun(CudaBackend be) {
    Backend cpu = Backends.install(be);
    try {
      Gpt m = model();
      AdamW opt = new AdamW(m.namedParameters(), AdamW.Settings.gpt());
      double[] losses = new double[STEPS];
      double[] norms = new double[STEPS];
      long launches = eagerSteps(m, opt, new int[B * T], new int[B * T], STEPS, losses, norms);
      return new Run(losses, norms, params(m), launches);
    } finally {
      Backends.install(cpu);
    }
  }

  /** The same losses, norms and parameters, bit for bit. */
  private static void assertSameBits(Run got, Run want) {
    assertThat(got.losses()).containsExactly(want.losses());
    assertThat(got.norms()).containsExactly(want.norms());
    for (int i = 0; i < want.params().size(); i++) {
      assertThat(got.params().get(i)).as("parameter " + i).containsExactly(want.params().get(i));
    }
  }

  @Test
  void aStepThatReadsAValueBackCannotBeRecordedAndLeavesTheBackendUsable() {
    onFakeDevice(() -> {
      Gpt m = model();
      int[][] xy = firstBatch();
      int[] x = xy[0];
      int[] y = xy[1];
      assertThatThrownBy(() -> Backends.current().captureStep(() -> step(m, x, y)[0].item()))
          .isInstanceOf(IllegalStateException.class)
          .hasMessageContaining("device-to-host copy during graph capture");
      // not recording any more: the same step runs eagerly and gives a finite loss
      assertThat(step(m, x, y)[0].item()).isFinite();
      return null;
    });
  }

  @Test
  void aClosedStepCannotReplay() {
    onFakeDevice(() -> {
      Gpt m = model();
      int[][] xy = firstBatch();
      step(m, xy[0], xy[1]);
      CapturedStep g = Backends.current().captureStep(() -> step(m, xy[0], xy[1]));
      g.replay();
      g.close();
      g.close(); // closing twice is harmless
      assertThatThrownBy(g::replay).hasMessageContaining("closed");
      return null;
    });
  }

  @Test
  void aRecordedUpdateSkipsAStepWhoseNormIsNotFinite() {
    onFakeDevice(() -> {
      Gpt m = model();
      AdamW opt = new AdamW(m.namedParameters(), AdamW.Settings.gpt());
      int[] x = new int[B * T];
      int[] y = new int[B * T];
      batch(0, x, y);
      step(m, x, y);
      opt.step(1e-2);
      m.zeroGrad();
      int[][] ux = {new int[B * T]};
      int[][] uy = {new int[B * T]};
      try (RecordedUpdate u = new RecordedUpdate(Backends.current(), m, opt, ux, uy, B, T, 1.0)) {
        batch(1, ux[0], uy[0]);
        RecordedUpdate.Result ok = u.run(1e-2);
        assertThat(ok.norm()).isFinite();
        assertThat(opt.steps()).isEqualTo(2);
        // a NaN in the first layer's weights: the norm is NaN and nothing is updated
        org.sdpo.autograd.Variable w = m.namedParameters().get("h.0.attn.c_attn.weight");
        w.value().write(0, new double[] {Double.NaN}, 1);
        List<double[]> before = params(m);
        RecordedUpdate.Result bad = u.run(1e-2);
        assertThat(bad.norm()).isNaN();
        assertThat(opt.steps()).as("AdamW counts only updates made").isEqualTo(2);
        List<double[]> after = params(m);
        for (int i = 0; i < before.size(); i++) {
          assertThat(after.get(i)).containsExactly(before.get(i));
        }
        m.namedParameters().values().forEach(p -> assertThat(p.grad().toDoubleArray())
            .as("gradients zeroed for the next step").containsOnly(0.0));
      }
      return null;
    });
  }

  @Test
  void theCpuBackendDoesNotRecord() {
    assertThat(Backends.current().canCaptureSteps()).isFalse();
    assertThatThrownBy(() -> Backends.current().captureStep(() -> {}))
        .isInstanceOf(UnsupportedOperationException.class)
        .hasMessageContaining("does not record steps");
  }
}
