package org.sdpo.tensor.cuda;

/**
 * The Java twin of {@code sample_rows} (sdpo_kernels_typed.cuh): the draw of
 * {@link org.sdpo.tensor.Backend#sampleRows} without a sort. The probabilities are kept in the
 * order the CPU defines (decreasing p, equal p by increasing id), and the token where a target
 * falls in their cumulative weight is found by searching p's values: a token's key is p's bits
 * read as a long (p &gt;= 0, so longs order as the values do), its weight its mass in units of
 * 2^-62 (truncated) or 1 to count tokens, so every sum is exact. The search, its passes and its
 * thresholds are the kernel's; double sums go lane by lane, then in block_sum's tree, as the
 * kernel's threads add them.
 */
final class SampleRowsTwin {
  /** A pass of the search splits its range in this many parts (SAMPLE_WAYS). */
  static final int WAYS = 8;
  /** A mass of 1 in fixed point (SAMPLE_FIXED). */
  static final double FIXED = 0x1p62;

  private SampleRowsTwin() {}

  /** The search passes run so far (each a pass over a row and the block's reductions). */
  static final java.util.concurrent.atomic.AtomicLong PASSES =
      new java.util.concurrent.atomic.AtomicLong();

  /** What a search weighs: masses, counts, or the tokens of one key counted by id. */
  private enum Mode {
    MASS, COUNT, TIE
  }

  /** A probability in units of 2^-62, truncated (sample_mass). */
  static long mass(double p) {
    return (long) (p * FIXED);
  }

  private static long key(double p) {
    return Double.doubleToRawLongBits(p);
  }

  /**
   * sample_rows(B, V, temperature, topK, topP, greedy, logits, active, u, p, tokens, logprobs).
   */
  static void run(FakeKernels.L l) {
    l.blockReduces();
    int rows = l.i(0);
    int V = l.i(1);
    double temperature = l.d(2);
    int topK = l.i(3);
    double topP = l.d(4);
    boolean greedy = l.i(5) != 0;
    for (int block = 0; block < l.grid; block++) {
      for (int b = block; b < rows; b += l.grid) {
        if (l.ldI(7, b) == 0) {
          continue;
        }
        double[] z = new double[V];
        for (int c = 0; c < V; c++) {
          z[c] = l.ld(6, (long) b * V + c);
        }
        double[] drawn = greedy ? greedy(z) : draw(z, temperature, topK, topP, l.ldD(8, b));
        if (!greedy) {
          for (int c = 0; c < V; c++) { // the kernel keeps them in the block's row of scratch
            l.stD(9, (long) block * V + c, z[c]);
          }
        }
        l.stI(10, b, (int) drawn[0]);
        l.stD(11, b, drawn[1]);
      }
    }
  }

  /** The first largest value's index (NaNs never; 0 where every value is -inf or NaN). */
  private static int argmax(double[] z) {
    double m = Double.NEGATIVE_INFINITY;
    int at = 0;
    for (int c = 0; c < z.length; c++) {
      if (z[c] > m) {
        m = z[c];
        at = c;
      }
    }
    return at;
  }

  /** The sum of f(c) as the block's threads add it: lane by lane in order, then the tree. */
  private static double blockSum(int n, java.util.function.IntToDoubleFunction f) {
    double[] lanes = new double[FakeKernels.THREADS];
    for (int c = 0; c < n; c++) {
      lanes[c % FakeKernels.THREADS] += f.applyAsDouble(c);
    }
    return FakeKernels.blockSum(lanes);
  }

  private static double[] greedy(double[] z) {
    int at = argmax(z);
    double m = z[at];
    double s = blockSum(z.length, c -> Math.exp(z[c] - m));
    return new double[] {at, (z[at] - m) - Math.log(s)};
  }

  /** {token, log-probability}; z is left holding the row's probabilities, as the kernel's p. */
  private static double[] draw(double[] z, double temperature, int topK, double topP, double u) {
    int V = z.length;
    int at = argmax(z);
    double m = z[at];
    for (int c = 0; c < V; c++) {
      z[c] = Math.exp((z[c] - m) / temperature);
    }
    double[] p = z;
    double s = blockSum(V, c -> p[c]);
    if (!Double.isFinite(s)) {
      return new double[] {at, Double.NaN};
    }
    long total = 0;
    for (int c = 0; c < V; c++) {
      p[c] /= s;
      total += mass(p[c]);
    }
    double pSum = blockSum(V, c -> p[c]);
    long top = key(p[at]);
    boolean cut = false;
    long cutKey = 0;
    int cutId = 0;
    long kept = total;
    if (topK > 0 && topK < V) {
      Pick k = pick(Mode.COUNT, p, top, topK - 1);
      cut = true;
      cutKey = k.key;
      cutId = k.token;
      kept = k.massBefore + mass(p[k.token]);
    }
    if (topP < 1) {
      long need = (long) Math.ceil(topP * FIXED);
      if (need >= 1 && total >= need) {
        Pick q = pick(Mode.MASS, p, top, need - 1);
        if (!cut || q.key > cutKey || (q.key == cutKey && q.token < cutId)) {
          cut = true;
          cutKey = q.key;
          cutId = q.token;
          kept = q.massBefore + mass(p[q.token]);
        }
      }
    }
    double keptP = pSum;
    if (cut) {
      long ck = cutKey;
      int ci = cutId;
      keptP = blockSum(V, c -> key(p[c]) > ck || (key(p[c]) == ck && c <= ci) ? p[c] : 0.0);
    }
    long m53 = (long) (u * 0x1p53);
    long target = (Math.multiplyHigh(m53, kept) << 11) | ((m53 * kept) >>> 53);
    Pick d = pick(Mode.MASS, p, top, target);
    return new double[] {d.token, Math.log(p[d.token] / keptP)};
  }

  /** A token a search found: its id and key, the mass and count of the tokens before it. */
  private record Pick(int token, long key, long massBefore, long countBefore) {}

  /** sample_pick: the first token at which the cumulative weight exceeds target. */
  private static Pick pick(Mode mode, double[] p, long top, long target) {
    int V = p.length;
    long v = search(mode, p, 0, 0, top, target);
    long massAbove = 0;
    long countAbove = 0;
    long countAt = 0;
    long idSum = 0;
    for (int c = 0; c < V; c++) {
      long key = key(p[c]);
      if (key > v) {
        massAbove += mass(p[c]);
        countAbove++;
      } else if (key == v) {
        countAt++;
        idSum += c;
      }
    }
    long each = mode == Mode.MASS ? mass(Double.longBitsToDouble(v)) : 1;
    long j = (target - (mode == Mode.MASS ? massAbove : countAbove)) / each;
    int token = countAt == 1 ? (int) idSum : V - 1 - (int) search(Mode.TIE, p, v, 0, V - 1, j);
    return new Pick(token, v, massAbove + j * mass(Double.longBitsToDouble(v)), countAbove + j);
  }

  /**
   * sample_search: the largest t in [lo, hi] at which F(t) &gt; target, given F(lo) &gt; target,
   * WAYS - 1 thresholds a pass, then narrowed to the tokens' x found in [lo, hi].
   */
  private static long search(Mode mode, double[] p, long tie, long lo, long hi, long target) {
    int V = p.length;
    while (lo < hi) {
      PASSES.incrementAndGet();
      long step = (hi - lo + WAYS - 1) / WAYS;
      long[] w = new long[WAYS - 1];
      long first = hi;
      long last = lo;
      for (int c = 0; c < V; c++) {
        long key = key(p[c]);
        if (mode == Mode.TIE && key != tie) {
          continue;
        }
        long x = mode == Mode.TIE ? V - 1 - c : key;
        long add = mode == Mode.MASS ? mass(p[c]) : 1;
        if (x >= lo && x <= hi) {
          first = Math.min(first, x);
          last = Math.max(last, x);
        }
        for (int j = 0; j < WAYS - 1; j++) {
          if (x >= lo + (j + 1) * step) {
            w[j] += add;
          }
        }
      }
      long nlo = lo;
      long nhi = hi;
      for (int j = 0; j < WAYS - 1; j++) {
        long t = lo + (j + 1) * step;
        if (t > nhi) {
          break;
        }
        if (w[j] > target) {
          nlo = t;
        } else {
          nhi = t - 1;
        }
      }
      lo = Math.max(nlo, first);
      hi = Math.min(nhi, last);
    }
    return lo;
  }
}
