package org.sdpo.tensor;

import static org.assertj.core.api.Assertions.assertThat;
import static org.quicktheories.QuickTheory.qt;
import static org.quicktheories.generators.Generate.longRange;

import java.nio.DoubleBuffer;
import org.junit.jupiter.api.Test;

/**
 * Rows are drawn on several cores where there is enough work (a large vocabulary, or many rows of
 * a small one), with the draws of one row at a time.
 */
class SamplingKernelsTest {

  @Test
  void rowsDrawnInParallelGiveTheDrawsOfOneRowAtATime() {
    qt().withFixedSeed(4L).withExamples(20).forAll(longRange(0, 1_000_000)).checkAssert(seed -> {
      Rng rng = new Rng(seed);
      boolean large = rng.nextBoolean(); // GPT-2's vocabulary or the demo's many rows
      int V = large ? 4096 + rng.nextInt(3000) : 8 + rng.nextInt(200);
      int B = large ? 2 + rng.nextInt(9) : 40 + rng.nextInt(260);
      double[] logits = new double[B * V];
      for (int i = 0; i < logits.length; i++) {
        logits[i] = 3 * rng.nextGaussian();
      }
      boolean[] active = new boolean[B];
      double[] u = new double[B];
      for (int b = 0; b < B; b++) {
        active[b] = rng.nextInt(4) != 0;
        u[b] = rng.nextDouble();
      }
      double temperature = 0.5 + rng.nextDouble();
      int topK = rng.nextBoolean() ? 0 : 1 + rng.nextInt(V);
      double topP = rng.nextBoolean() ? 1 : 0.1 + 0.9 * rng.nextDouble();
      boolean greedy = rng.nextInt(5) == 0;
      int[] tokens = new int[B];
      double[] logprobs = new double[B];
      java.util.Arrays.fill(tokens, -7);
      SamplingKernels.sampleRows(Buf.of(DoubleBuffer.wrap(logits), 0, logits.length), V, active,
          temperature, topK, topP, greedy, u, tokens, logprobs);
      for (int b = 0; b < B; b++) {
        if (!active[b]) {
          assertThat(tokens[b]).as("an inactive row is left alone").isEqualTo(-7);
          continue;
        }
        double[] row = java.util.Arrays.copyOfRange(logits, b * V, (b + 1) * V);
        double[] one = SamplingKernels.choose(row, temperature, topK, topP, greedy, u[b]);
        assertThat(tokens[b]).as("row " + b).isEqualTo((int) one[0]);
        assertThat(Double.doubleToLongBits(logprobs[b])).as("row " + b)
            .isEqualTo(Double.doubleToLongBits(one[1]));
      }
    });
  }
}
