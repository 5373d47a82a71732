package org.sdpo.tensor.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.DoubleBuffer;
import org.junit.jupiter.api.Test;
import org.sdpo.tensor.Backend;
import org.sdpo.tensor.Backends;
import org.sdpo.tensor.Buf;
import org.sdpo.tensor.DType;
import org.sdpo.tensor.HostKernels;
import org.sdpo.tensor.Rng;
import org.sdpo.tensor.Tensor;

/**
 * Sampling on the device ({@code sample_rows}): the same tokens as the CPU's sampler, which
 * sorts the vocabulary, from the same logits and uniforms, over vocabularies from 1 to 4,099
 * tokens, with ties, impossible tokens, temperatures, top-k, top-p, greedy and inactive rows;
 * as the kernel's Java twin and as its CUDA source (the kernel emulator). Log-probabilities agree
 * to 1e-12: the normalising sums run in another order.
 *
 * <p>The uniforms stay more than the double's resolution away from 1: within about 1e-15 of the
 * end the CPU's cumulative sum (in double, rounded at every token) can no longer tell the tail's
 * tokens apart, where the device's exact sums can, so there the two may draw different tail
 * tokens ({@link #theLastUniformDrawsFromTheTail}).
 */
class DeviceSamplingTest {
  private static final int[] VOCABS = {1, 2, 5, 64, 300, 4099};

  /** One call's inputs, drawn from a seed. */
  private record Draw(DType dtype, int B, int V, double[] z, boolean[] active, double[] u,
      double temperature, int topK, double topP, boolean greedy) {

    static Draw of(long seed) {
      Rng rng = new Rng(seed);
      int V = VOCABS[rng.nextInt(VOCABS.length)];
      int B = 1 + rng.nextInt(6);
      DType dt = rng.nextBoolean() ? DType.FLOAT32 : DType.FLOAT64;
      double scale = rng.nextBoolean() ? 2 : 8;
      boolean ties = rng.nextInt(3) == 0;
      double[] z = new double[B * V];
      for (int i = 0; i < z.length; i++) {
        z[i] = scale * rng.nextGaussian();
        if (ties) {
          z[i] = Math.round(z[i]);
        }
        if (rng.nextInt(50) == 0) {
          z[i] = Double.NEGATIVE_INFINITY; // a token that cannot be drawn
        }
        if (dt == DType.FLOAT32) {
          z[i] = (float) z[i];
        }
      }
      boolean[] active = new boolean[B];
      double[] u = new double[B];
      for (int b = 0; b < B; b++) {
        active[b] = rng.nextInt(5) != 0;
        int edge = rng.nextInt(10);
        u[b] = edge == 0 ? 0 : edge == 1 ? 1 - 1e-9 : rng.nextDouble(); // 1 - 1e-9: the tail
      }
      int k = rng.nextInt(4);
      int topK = k == 0 ? 0 : k == 1 ? 1 : k == 2 ? V : 1 + rng.nextInt(V);
      double topP = rng.nextBoolean() ? 1.0 : 0.05 + 0.94 * rng.nextDouble();
      return new Draw(dt, B, V, z, active, u, 0.3 + 1.2 * rng.nextDouble(), topK, topP,
          rng.nextInt(6) == 0);
    }

    /** {tokens, logprobs} from {@code be}; inactive rows keep -7 and NaN. */
    Object[] on(Backend be) {
      int[] tokens = new int[B];
      double[] logprobs = new double[B];
      java.util.Arrays.fill(tokens, -7);
      java.util.Arrays.fill(logprobs, Double.NaN);
      if (be == null) { // the CPU's sampler itself
        HostKernels.sampleRows(Buf.of(DoubleBuffer.wrap(z), 0, z.length), V, active,
            temperature, topK, topP, greedy, u, tokens, logprobs);
      } else {
        Backend before = Backends.current();
        Backends.install(be);
        try {
          be.sampleRows(Tensor.of(dtype, z, B, V), active, temperature, topK, topP, greedy, u,
              tokens, logprobs);
        } finally {
          Backends.install(before);
        }
      }
      return new Object[] {tokens, logprobs};
    }

    @Override
    public String toString() {
      return dtype + " B " + B + " V " + V + " T " + temperature + " top-k " + topK + " top-p "
          + topP + (greedy ? " greedy" : "") + " u " + java.util.Arrays.toString(u);
    }
  }

  /** The device's draws equal the CPU's for {@code n} seeds from {@code first}. */
  private static void agrees(CudaBackend be, long first, int n) {
    for (long seed = first; seed < first + n; seed++) {
      Draw d = Draw.of(seed);
      Object[] want = d.on(null);
      Object[] got = d.on(be);
      assertThat((int[]) got[0]).as("tokens, seed %d: %s", seed, d).containsExactly((int[]) want[0]);
      double[] wl = (double[]) want[1];
      double[] gl = (double[]) got[1];
      for (int b = 0; b < d.B; b++) {
        if (Double.isNaN(wl[b])) {
          assertThat(gl[b]).as("row %d (inactive, or no finite logit), seed %d", b, seed).isNaN();
        } else {
          assertThat(gl[b]).as("log-probability of row %d, seed %d: %s", b, seed, d)
              .isCloseTo(wl[b], org.assertj.core.data.Offset.offset(1e-12 * Math.max(1, -wl[b])));
        }
      }
    }
  }

  @Test
  void theTwinDrawsTheCpusTokens() {
    agrees(new CudaBackend(new FakeDevice(), CudaBackend.Precision.FP32, false), 1, 400);
  }

  @Test
  void theKernelSourceDrawsTheCpusTokens() {
    for (KernelEmulator.Order order : KernelEmulator.Order.values()) {
      KernelEmulator e = EmulatorLibrary.emulator(order);
      agrees(new CudaBackend(new FakeDevice(null, e), CudaBackend.Precision.FP32, false), 1000, 30);
    }
  }

  @Test
  void aBlockTakesSeveralRowsWhereScratchIsShort() {
    CudaBackend twin = new CudaBackend(new FakeDevice(), CudaBackend.Precision.FP32, false);
    twin.sampleScratchBytes = 8L * 4099 * 2; // two rows of the largest vocabulary
    agrees(twin, 2000, 100);
    KernelEmulator e = EmulatorLibrary.emulator(KernelEmulator.Order.FORWARD);
    CudaBackend kernel = new CudaBackend(new FakeDevice(null, e), CudaBackend.Precision.FP32, false);
    kernel.sampleScratchBytes = 8L * 300 * 2;
    agrees(kernel, 3000, 20);
  }

  /**
   * u = 1 - 2^-53: the device's draw is the token whose exact cumulative mass first passes
   * (2^53 - 1) / 2^53 of the total, computed here from the CPU's probabilities in 2^-62 units.
   * Those may differ from the device's by an ulp each (another summation order for the
   * normaliser), so the check allows V units of slack on either side of the target.
   */
  @Test
  void theLastUniformDrawsFromTheTail() {
    CudaBackend be = new CudaBackend(new FakeDevice(), CudaBackend.Precision.FP32, false);
    Rng rng = new Rng(11);
    int V = 300;
    for (int trial = 0; trial < 20; trial++) {
      double[] z = new double[V];
      for (int i = 0; i < V; i++) {
        z[i] = 4 * rng.nextGaussian();
      }
      Draw d = new Draw(DType.FLOAT64, 1, V, z, new boolean[] {true},
          new double[] {Math.nextDown(1.0)}, 1.0, 0, 1.0, false);
      int token = ((int[]) d.on(be)[0])[0];
      double max = java.util.Arrays.stream(z).max().getAsDouble();
      double sum = 0;
      double[] p = new double[V];
      for (int i = 0; i < V; i++) {
        p[i] = Math.exp(z[i] - max);
        sum += p[i];
      }
      Integer[] order = new Integer[V];
      long total = 0;
      for (int i = 0; i < V; i++) {
        p[i] /= sum;
        order[i] = i;
        total += SampleRowsTwin.mass(p[i]);
      }
      java.util.Arrays.sort(order, (a, b) -> p[a] != p[b] ? Double.compare(p[b], p[a]) : a - b);
      long target = total - (total + (1L << 53) - 1 >>> 53); // floor((2^53 - 1) total / 2^53)
      long before = 0;
      for (int k = 0; order[k] != token; k++) {
        before += SampleRowsTwin.mass(p[order[k]]);
      }
      assertThat(before).as("trial %d: the mass before token %d", trial, token)
          .isLessThanOrEqualTo(target + V);
      assertThat(before + SampleRowsTwin.mass(p[token])).as("trial %d: through it", trial)
          .isGreaterThan(target - V);
    }
  }

  /**
   * The search narrows its range to the tokens it finds in it, so a draw from GPT-2's
   * vocabulary takes a third of the 21 passes that p's 63 bits need eight ways a pass.
   */
  @Test
  void aDrawFromFiftyThousandTokensTakesFewPasses() {
    CudaBackend be = new CudaBackend(new FakeDevice(), CudaBackend.Precision.FP32, false);
    Rng rng = new Rng(3);
    int B = 8;
    int V = 50257;
    double[] z = new double[B * V];
    for (int i = 0; i < z.length; i++) {
      z[i] = 3 * rng.nextGaussian();
    }
    double[] u = new double[B];
    for (int b = 0; b < B; b++) {
      u[b] = rng.nextDouble();
    }
    boolean[] active = new boolean[B];
    java.util.Arrays.fill(active, true);
    Draw d = new Draw(DType.FLOAT32, B, V, z, active, u, 1.0, 0, 1.0, false);
    long before = SampleRowsTwin.PASSES.get();
    Object[] got = d.on(be);
    double perRow = (SampleRowsTwin.PASSES.get() - before) / (double) B;
    assertThat(perRow).as("search passes a row").isLessThanOrEqualTo(8);
    assertThat((int[]) got[0]).containsExactly((int[]) d.on(null)[0]);
  }

  @Test
  void oneLaunchPerCallAndTheHostPathOnRequest() {
    CudaBackend be = new CudaBackend(new FakeDevice(), CudaBackend.Precision.FP32, false);
    Draw d = Draw.of(7);
    long before = be.kernelLaunches();
    d.on(be);
    assertThat(be.kernelLaunches() - before).isEqualTo(1);
    System.setProperty("sdpo.cuda.deviceSampling", "false");
    CudaBackend host;
    try {
      host = new CudaBackend(new FakeDevice(), CudaBackend.Precision.FP32, false);
    } finally {
      System.clearProperty("sdpo.cuda.deviceSampling");
    }
    assertThat(host.description()).contains("(sampling on the host)");
    for (long seed = 1; seed < 50; seed++) { // the CPU's own sampler: bit for bit
      Draw x = Draw.of(seed);
      Object[] want = x.on(null);
      Object[] got = x.on(host);
      assertThat((int[]) got[0]).containsExactly((int[]) want[0]);
      assertThat((double[]) got[1]).containsExactly((double[]) want[1]);
    }
  }
}
