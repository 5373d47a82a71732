package org.sdpo.transformer.sample;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.sdpo.autograd.Grad;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.Backends;
import org.sdpo.tensor.Rng;
import org.sdpo.tensor.Fused;
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
  /**
   * The prompt's pass makes the logits of every prompt position, (B, T, V), of which it reads the
   * last, up to this size (32 MiB: every recorded run's sampling, whose numbers stay those of this
   * computation); above it, the head turns only the last position's hidden states into logits.
   * The same numbers up to how the product groups its sums; at GPT-2's vocabulary a batch of 32
   * prompts of 500 tokens would otherwise make 3.2 GB of logits and multiply 1.2 TFLOP for them.
   */
  public static final long PROMPT_LOGITS_BYTES = 32L << 20;

  private Sampler() {}

  /**
   * Decoding settings. topK 0 and topP 1 mean no filtering. With {@code ignoreEos} a sampled end
   * token does not end its sequence (every sequence then runs to its budget or a stop string):
   * for benchmarks that must decode a fixed number of positions, as their peers in other
   * libraries do.
   */
  public record Settings(double temperature, int topK, double topP, boolean greedy,
      int maxNewTokens, List<String> stop, long seed, boolean ignoreEos) {
    /** Settings whose sequences end at the end token. */
    public Settings(double temperature, int topK, double topP, boolean greedy, int maxNewTokens,
        List<String> stop, long seed) {
      this(temperature, topK, topP, greedy, maxNewTokens, stop, seed, false);
    }

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
      if (stop.contains("")) { // it would end every sequence after its first token
        throw new IllegalArgumentException("sampling: a stop string must not be empty");
      }
    }

    public static Settings sample(double temperature, int maxNewTokens, long seed) {
      return new Settings(temperature, 0, 1.0, false, maxNewTokens, List.of(), seed);
    }

    /** These settings, but an end token does not end a sequence. */
    public Settings ignoringEos() {
      return new Settings(temperature, topK, topP, greedy, maxNewTokens, stop, seed, true);
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
    // The cache lives in an outer workspace scope (or, when the decode step is recorded, is kept
    // with the recording) and every step in an inner one: after the first step (and, for repeated
    // shapes, after the first call) decoding allocates nothing. The capacity is rounded up to a
    // multiple of 32 so calls with similar lengths share buffers.
    Workspace ws = Workspace.ofThisThread(); // shared with scoring: reused across calls
    int capacity = Math.min(model.config().nPositions(), (lp + steps + 31) / 32 * 32);
    // On a backend that records steps (a GPU), the decode step is recorded once and replayed; the
    // recording and what it reads are kept for the next call of the same shapes (RecordedDecode).
    boolean record = steps > 2 && model.recordableDecode()
        && Backends.current().canCaptureSteps();
    RecordedDecode kept = record ? RecordedDecode.take(model, B, capacity) : null;
    record = kept != null && !kept.failed;
    try {
      try (Grad.Scope g = Grad.disabled(); Workspace.Scope outer = ws.enter()) {
        KvCache cache = kept != null ? kept.cache : model.newCache(B, capacity);
        int V = model.config().vocabSize();
        // the logits of the last position, (B, V), in the outer scope: read by the sampling kernel
        Tensor all = kept != null ? kept.all : Tensor.empty(model.dtype(), B, V);
        try (Workspace.Scope sc = ws.enter()) {
          Tensor m = Tensor.of(model.dtype(), mask, B, lp);
          if ((long) B * lp * V * model.dtype().bytes() <= PROMPT_LOGITS_BYTES) {
            all.assign(model.forward(ids, B, lp, m, pos, cache).value().slice(1, lp - 1, lp)
                .reshape(B, V)); // (B, V)
          } else { // only the last position's row through the head
            Variable h = model.forwardHidden(ids, B, lp, m, pos, cache); // (B, lp, C)
            int C = h.dim(2);
            all.assign(model.head(Variable.constant(h.value().slice(1, lp - 1, lp).reshape(B, C)))
                .value()); // (B, V)
          }
        }
        // Each decode step feeds one token per row: a finished row feeds a pad, counted as a real
        // token (rows never see each other, and a finished row's outputs are never read), so the
        // step's only inputs are these two arrays, refilled in place, and the cache's length.
        int[] next = kept != null ? kept.next : new int[B];
        int[] nextPos = kept != null ? kept.nextPos : new int[B];
        Runnable decode = () -> all.assign(model.forward(next, B, 1, null, nextPos, cache).value()
            .reshape(B, V));
        for (int step = 0; step < steps; step++) {
          boolean anyActive = false;
          boolean[] active = new boolean[B];
          double[] u = new double[B]; // one uniform draw per active row, in row order
          for (int b = 0; b < B; b++) {
            active[b] = reason[b] == null;
            if (active[b] && !s.greedy()) {
              u[b] = rng.nextDouble();
            }
          }
          int[] tokens = new int[B];
          double[] logprobs = new double[B];
          Fused.sampleRows(all, active, s.temperature(), s.topK(), s.topP(), s.greedy(), u, tokens,
              logprobs);
          for (int b = 0; b < B; b++) {
            if (reason[b] != null) {
              next[b] = tok.pad();
              nextPos[b] = Math.min(length[b], model.config().nPositions() - 1);
              continue;
            }
            int token = tokens[b];
            out.get(b).add(token);
            lps.get(b).add(logprobs[b]);
            next[b] = token;
            nextPos[b] = length[b];
            length[b]++;
            reason[b] = finished(tok, out.get(b), token, s, maxNew[b]);
            anyActive |= reason[b] == null;
          }
          if (!anyActive || step == steps - 1) {
            break;
          }
          if (record && kept.step == null) {
            int at = cache.length();
            try {
              kept.step = Backends.current().captureStep(decode);
            } catch (RuntimeException e) {
              record = false; // decode kernel by kernel, as on a backend that does not record
              kept.failed = true;
              System.err.println("sampling: recording the decode step failed (" + e.getMessage()
                  + "); decoding kernel by kernel (SDPO_CUDA_GRAPHS=0 skips the attempt)");
            }
            cache.truncate(at); // recording advanced the cache without running
          }
          if (record) {
            kept.step.replay(); // copies next, nextPos and the cache's length in first
            cache.advance(1);
          } else {
            try (Workspace.Scope sc = ws.enter()) {
              decode.run();
            }
          }
        }
      }
    } finally {
      if (kept != null) {
        kept.release(); // also when the call failed: the next call may take the state
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
    if (tok.isEnd(token) && !s.ignoreEos()) {
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

}
