package org.sdpo.transformer.sample;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.sdpo.autograd.Grad;
import org.sdpo.tensor.Rng;
import org.sdpo.tensor.Tensor;
import org.sdpo.tensor.Workspace;
import org.sdpo.transformer.CausalLm;
import org.sdpo.transformer.nn.KvCache;
import org.sdpo.transformer.tokenizer.Tokenizer;

/**
 * Batched generation with a KV cache: the prompts (left-padded, with an attention mask and
 * position ids that skip the pads) are run once, then each step feeds one new token per sequence.
 * Temperature, top-k, top-p (nucleus) and greedy decoding; stop at EOS, at a stop string, or at a
 * per-sequence token budget; one seed per call.
 *
 * <p>Each sample carries the log-probability of every generated token under the distribution it
 * was drawn from (after temperature, top-k and top-p; under softmax(logits) for greedy), which is
 * what RL needs for importance ratios.
 */
public final class Sampler {
  private Sampler() {}

  /** Decoding settings. topK 0 and topP 1 mean no filtering. */
  public record Settings(double temperature, int topK, double topP, boolean greedy,
      int maxNewTokens, List<String> stop, long seed) {
    public Settings {
      if (!greedy && !(temperature > 0)) {
        throw new IllegalArgumentException("sampling: temperature must be > 0 (or use greedy), got "
            + temperature);
      }
      if (topK < 0 || !(topP > 0 && topP <= 1) || maxNewTokens < 1) {
        throw new IllegalArgumentException("sampling: need top_k >= 0, 0 < top_p <= 1, "
            + "max_new_tokens >= 1; got " + topK + ", " + topP + ", " + maxNewTokens);
      }
      stop = stop == null ? List.of() : List.copyOf(stop);
    }

    public static Settings sample(double temperature, int maxNewTokens, long seed) {
      return new Settings(temperature, 0, 1.0, false, maxNewTokens, List.of(), seed);
    }

    public static Settings greedy(int maxNewTokens) {
      return new Settings(1.0, 0, 1.0, true, maxNewTokens, List.of(), 0);
    }
  }

  /** One generated continuation. */
  public record Sample(int[] tokens, double[] logprobs, String text, String finishReason) {}

  /** Generates one continuation per prompt with the same token budget for all. */
  public static List<Sample> generate(CausalLm model, Tokenizer tok, List<int[]> prompts, Settings s) {
    int[] budget = new int[prompts.size()];
    Arrays.fill(budget, s.maxNewTokens());
    return generate(model, tok, prompts, s, budget);
  }

  /** Generates one continuation per prompt; {@code maxNew[b]} caps sequence b. */
  public static List<Sample> generate(CausalLm model, Tokenizer tok, List<int[]> prompts, Settings s,
      int[] maxNew) {
    int B = prompts.size();
    int lp = prompts.stream().mapToInt(p -> p.length).max().orElse(0);
    int steps = Arrays.stream(maxNew).max().orElse(0);
    if (B == 0) {
      return List.of();
    }
    if (prompts.stream().anyMatch(p -> p.length == 0)) {
      throw new IllegalArgumentException("sampling: every prompt needs at least one token");
    }
    if (lp + steps > model.config().nPositions()) {
      throw new IllegalArgumentException("sampling: prompt length " + lp + " + " + steps
          + " new tokens exceed " + model.config().nPositionsKey() + " " + model.config().nPositions());
    }
    Rng rng = new Rng(s.seed());
    List<List<Integer>> out = new ArrayList<>();
    List<List<Double>> lps = new ArrayList<>();
    String[] reason = new String[B];
    int[] length = new int[B]; // real tokens so far (the next position id)
    int[] ids = new int[B * lp];
    double[] mask = new double[B * lp];
    int[] pos = new int[B * lp];
    for (int b = 0; b < B; b++) {
      int[] p = prompts.get(b);
      int pad = lp - p.length;
      for (int t = 0; t < lp; t++) {
        boolean real = t >= pad;
        ids[b * lp + t] = real ? p[t - pad] : tok.pad();
        mask[b * lp + t] = real ? 1 : 0;
        pos[b * lp + t] = real ? t - pad : 0;
      }
      length[b] = p.length;
      out.add(new ArrayList<>());
      lps.add(new ArrayList<>());
    }
    // The cache lives in an outer workspace scope and every step in an inner one: after the first
    // step (and, for repeated shapes, after the first call) decoding allocates nothing. The
    // capacity is rounded up to a multiple of 32 so calls with similar lengths share buffers.
    Workspace ws = Workspace.ofThisThread(); // shared with scoring: reused across calls
    int capacity = Math.min(model.config().nPositions(), (lp + steps + 31) / 32 * 32);
    try (Grad.Scope g = Grad.disabled(); Workspace.Scope outer = ws.enter()) {
      KvCache cache = model.newCache(B, capacity);
      double[] all;
      int V = model.config().vocabSize();
      try (Workspace.Scope sc = ws.enter()) {
        all = model.forward(ids, B, lp, Tensor.of(model.dtype(), mask, B, lp), pos, cache)
            .value().slice(1, lp - 1, lp).copy().toDoubleArray(); // (B, 1, V)
      }
      for (int step = 0; step < steps; step++) {
        int[] next = new int[B];
        double[] nextMask = new double[B];
        int[] nextPos = new int[B];
        boolean anyActive = false;
        for (int b = 0; b < B; b++) {
          if (reason[b] != null) {
            next[b] = tok.pad();
            nextPos[b] = Math.min(length[b], model.config().nPositions() - 1);
            continue;
          }
          double[] row = Arrays.copyOfRange(all, b * V, (b + 1) * V);
          double[] chosen = choose(row, s, rng);
          int token = (int) chosen[0];
          out.get(b).add(token);
          lps.get(b).add(chosen[1]);
          next[b] = token;
          nextMask[b] = 1;
          nextPos[b] = length[b];
          length[b]++;
          reason[b] = finished(tok, out.get(b), token, s, maxNew[b]);
          anyActive |= reason[b] == null;
        }
        if (!anyActive || step == steps - 1) {
          break;
        }
        try (Workspace.Scope sc = ws.enter()) {
          all = model.forward(next, B, 1, Tensor.of(model.dtype(), nextMask, B, 1), nextPos, cache)
              .value().toDoubleArray();
        }
      }
    }
    List<Sample> samples = new ArrayList<>();
    for (int b = 0; b < B; b++) {
      int[] t = out.get(b).stream().mapToInt(Integer::intValue).toArray();
      double[] l = lps.get(b).stream().mapToDouble(Double::doubleValue).toArray();
      String text = tok.decode(t, true);
      for (String st : s.stop()) {
        int i = text.indexOf(st);
        if (i >= 0) {
          text = text.substring(0, i);
        }
      }
      samples.add(new Sample(t, l, text, reason[b] == null ? "length" : reason[b]));
    }
    return samples;
  }

  private static String finished(Tokenizer tok, List<Integer> gen, int token, Settings s, int max) {
    if (token == tok.eos()) {
      return "eos";
    }
    if (!s.stop().isEmpty()) {
      String text = tok.decode(gen.stream().mapToInt(Integer::intValue).toArray(), true);
      for (String st : s.stop()) {
        if (text.contains(st)) {
          return "stop";
        }
      }
    }
    return gen.size() >= max ? "length" : null;
  }

  /**
   * {token, log-probability under the sampling distribution}: softmax(logits / T), restricted to
   * the top-k, then to the smallest set of most likely tokens whose mass reaches top-p, and
   * renormalised.
   */
  static double[] choose(double[] logits, Settings s, Rng rng) {
    int V = logits.length;
    if (s.greedy()) {
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
      p[i] = Math.exp((logits[i] - max) / s.temperature());
      sum += p[i];
    }
    for (int i = 0; i < V; i++) {
      p[i] /= sum;
    }
    int[] order = descendingOrder(p);
    int keep = s.topK() > 0 ? Math.min(s.topK(), V) : V;
    if (s.topP() < 1) {
      double mass = 0;
      int k = 0;
      while (k < keep) {
        mass += p[order[k]];
        k++;
        if (mass >= s.topP()) {
          break;
        }
      }
      keep = k;
    }
    double kept = 0;
    for (int k = 0; k < keep; k++) {
      kept += p[order[k]];
    }
    double u = rng.nextDouble() * kept;
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
