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

  /**
   * What {@link SamplingKernels#choose} reads of the order, found without sorting the whole row
   * where top-k is set (a heap of k), is the full sort's prefix, long enough for top-p after it:
   * rows of many ties and zeros, a few large values, or none.
   */
  @Test
  void theLeadingOrderIsTheFullSortsPrefix() {
    qt().withFixedSeed(8L).withExamples(400).forAll(longRange(0, 1_000_000)).checkAssert(seed -> {
      Rng rng = new Rng(seed);
      int V = 1 + rng.nextInt(rng.nextBoolean() ? 40 : 3000);
      double[] p = new double[V];
      int kind = rng.nextInt(3);
      double sum = 0;
      for (int i = 0; i < V; i++) { // ties and zeros, a peaked row, or a flat one
        p[i] = kind == 0 ? rng.nextInt(4) / 3.0 : kind == 1
            ? Math.exp(6 * rng.nextGaussian()) : 1 + 0.01 * rng.nextDouble();
        sum += p[i];
      }
      for (int i = 0; i < V; i++) {
        p[i] = sum > 0 ? p[i] / sum : 1.0 / V;
      }
      int[] full = SamplingKernels.descendingOrder(p);
      int topK = rng.nextBoolean() ? 0 : 1 + rng.nextInt(V + 2);
      double topP = rng.nextBoolean() ? 1 : rng.nextDouble();
      int[] lead = SamplingKernels.leadingOrder(p, topK, topP);
      assertThat(lead).containsExactly(java.util.Arrays.copyOf(full, lead.length));
      int needed = topK > 0 ? Math.min(topK, V) : V; // what choose's loop can reach
      if (topP < 1) {
        double mass = 0;
        int k = 0;
        while (k < needed) {
          mass += p[full[k]];
          k++;
          if (mass >= topP) {
            break;
          }
        }
        needed = k;
      }
      assertThat(lead.length).as("V %d, top-k %d, top-p %s", V, topK, topP)
          .isGreaterThanOrEqualTo(needed);
    });
  }
}
