package org.sdpo.tensor;

/**
 * The CPU's sampling kernel ({@link Backend#sampleRows}): per row, the sampling distribution
 * (temperature, top-k, top-p), the token where the row's uniform draw falls, and its
 * log-probability.
 */
final class SamplingKernels {
  private SamplingKernels() {}

  static void sampleRows(Buf logits, int V, boolean[] active, double temperature, int topK,
      double topP, boolean greedy, double[] u, int[] tokens, double[] logprobs) {
    int[] rows = java.util.stream.IntStream.range(0, active.length).filter(b -> active[b])
        .toArray();
    Parallel.Range draw = (s, e) -> {
      double[] row = new double[V];
      for (int k = s; k < e; k++) {
        int b = rows[k];
        for (int i = 0; i < V; i++) {
          row[i] = logits.get(b * V + i);
        }
        double[] chosen = choose(row, temperature, topK, topP, greedy, u[b]);
        tokens[b] = (int) chosen[0];
        logprobs[b] = chosen[1];
      }
    };
    // rows on several cores where there is enough work (Parallel's grain): a row's token and
    // log-probability depend on its logits and its uniform alone, so the draws are the same
    Parallel.forRange(rows.length, 16 * V, draw); // a softmax and an 8-pass sort per row
  }

  /**
   * {token, log-probability under the sampling distribution}: softmax(logits / T), restricted to
   * the top-k, then to the smallest set of most likely tokens whose mass reaches top-p, and
   * renormalised; the token is where {@code uniform} (in [0, 1)) falls in the cumulative mass of
   * the kept tokens, most likely first. Greedy: the first largest logit.
   */
  static double[] choose(double[] logits, double temperature, int topK, double topP,
      boolean greedy, double uniform) {
    int V = logits.length;
    if (greedy) {
      int best = 0;
      for (int i = 1; i < V; i++) {
        if (logits[i] > logits[best]) {
          best = i;
        }
      }
      return new double[] {best, logSoftmaxAt(logits, best, 1.0)};
    }
    double max = Double.NEGATIVE_INFINITY;
    for (double x : logits) {
      max = Math.max(max, x);
    }
    double[] p = new double[V];
    double sum = 0;
    for (int i = 0; i < V; i++) {
      p[i] = Math.exp((logits[i] - max) / temperature);
      sum += p[i];
    }
    for (int i = 0; i < V; i++) {
      p[i] /= sum;
    }
    int[] order = leadingOrder(p, topK, topP);
    int keep = topK > 0 ? Math.min(topK, V) : V;
    if (topP < 1) {
      double mass = 0;
      int k = 0;
      while (k < keep) {
        mass += p[order[k]];
        k++;
        if (mass >= topP) {
          break;
        }
      }
      keep = k;
    }
    double kept = 0;
    for (int k = 0; k < keep; k++) {
      kept += p[order[k]];
    }
    double u = uniform * kept;
    double acc = 0;
    int token = order[keep - 1];
    for (int k = 0; k < keep; k++) {
      acc += p[order[k]];
      if (u < acc) {
        token = order[k];
        break;
      }
    }
    return new double[] {token, Math.log(p[token] / kept)};
  }

  /**
   * The first entries of {@link #descendingOrder}{@code (p)}, as many as {@link #choose} reads:
   * with top-k, the k largest (a heap of k, O(V log k)); else the whole order (a radix sort,
   * linear in V). The same prefix either way, so the draws do not depend on which. (Top-p alone
   * popped from a heap of the whole row was tried: faster on peaked rows, slower on flatter ones,
   * bench/README.md.)
   */
  static int[] leadingOrder(double[] p, int topK, double topP) {
    int V = p.length;
    if (topK > 0 && topK < V) {
      return FusedKernels.topK(Buf.of(java.nio.DoubleBuffer.wrap(p), 0, V), 1, V, topK);
    }
    return descendingOrder(p);
  }

  /**
   * The indices of {@code p} by decreasing value (as {@link Double#compare} orders values), equal
   * values by increasing index: a total order, so this is the one permutation any correct sort
   * gives and the sampler's draws do not depend on the algorithm. A stable least-significant-digit
   * radix sort of the values' bits, 8 bits per pass (a pass is skipped when every key has the same
   * byte there), starting from increasing indices so that ties keep them: linear in the
   * vocabulary, where sorting boxed indices with a comparator dominated the decoding time of
   * large-vocabulary models.
   */
  public static int[] descendingOrder(double[] p) {
    int n = p.length;
    long[] key = new long[n];
    int[] idx = new int[n];
    for (int i = 0; i < n; i++) {
      long bits = Double.doubleToLongBits(p[i]);
      bits ^= (bits >> 63) & Long.MAX_VALUE; // signed order of the longs = Double.compare order
      key[i] = ~bits ^ Long.MIN_VALUE; // reversed (descending), then unsigned for the passes
      idx[i] = i;
    }
    long[] key2 = new long[n];
    int[] idx2 = new int[n];
    int[] count = new int[257];
    for (int shift = 0; shift < 64; shift += 8) {
      java.util.Arrays.fill(count, 0);
      for (int i = 0; i < n; i++) {
        count[(int) ((key[i] >>> shift) & 0xff) + 1]++;
      }
      if (n == 0 || count[(int) ((key[0] >>> shift) & 0xff) + 1] == n) {
        continue; // every key has the same byte here
      }
      for (int d = 0; d < 256; d++) {
        count[d + 1] += count[d];
      }
      for (int i = 0; i < n; i++) {
        int d = (int) ((key[i] >>> shift) & 0xff);
        int at = count[d]++;
        key2[at] = key[i];
        idx2[at] = idx[i];
      }
      long[] tk = key;
      key = key2;
      key2 = tk;
      int[] ti = idx;
      idx = idx2;
      idx2 = ti;
    }
    return idx;
  }

  private static double logSoftmaxAt(double[] logits, int i, double temperature) {
    double max = Double.NEGATIVE_INFINITY;
    for (double x : logits) {
      max = Math.max(max, x);
    }
    double sum = 0;
    for (double x : logits) {
      sum += Math.exp((x - max) / temperature);
    }
    return (logits[i] - max) / temperature - Math.log(sum);
  }
}
