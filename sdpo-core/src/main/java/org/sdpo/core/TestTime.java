package org.sdpo.core;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.sdpo.tensor.Rng;
import org.sdpo.transformer.CausalLm;
import org.sdpo.transformer.sample.Sampler;
import org.sdpo.transformer.tokenizer.Tokenizer;
import org.sdpo.transformer.train.AdamW;
import org.sdpo.verifiers.Environment;
import org.sdpo.verifiers.Task;
import org.sdpo.verifiers.Verdict;
import org.sdpo.verifiers.Verifiers;

/**
 * Test-time SDPO on one hard question (reference doc §5): batches of attempts, each graded, each
 * re-scored by the teacher with its own feedback, one SDPO step per batch, until the first success
 * or the budget. Baselines on the same question: best-of-k (i.i.d. samples of the base model,
 * unbiased pass@k) and multi-turn (all past feedback in the prompt, oldest dropped when the context
 * is full). The metric is discovery@k = P(first success &lt;= k) over seeds, with bootstrap
 * confidence intervals.
 */
public final class TestTime {
  private TestTime() {}

  /** The settings of a test-time run. */
  public record Settings(int batch, int budget, double lr, Teacher.Kind teacher, double teacherRate,
      DistillConfig loss, Double advantageClip, double temperature, int maxNewTokens,
      Reprompt.Templates templates, int threads) {
    public Settings {
      if (batch < 1 || budget < 1 || maxNewTokens < 1 || threads < 1 || !(lr > 0)
          || !(temperature > 0) || !(teacherRate >= 0 && teacherRate <= 1)) {
        throw new IllegalArgumentException(String.format(java.util.Locale.ROOT, "test-time: batch, "
            + "budget, max_new_tokens and threads must be >= 1, lr and the temperature > 0, the "
            + "teacher's rate in [0, 1]; got %d, %d, %d, %d, %s, %s, %s", batch, budget,
            maxNewTokens, threads, lr, temperature, teacherRate));
      }
    }

    public static Settings reference(int budget, int maxNewTokens) {
      return new Settings(16, budget, 1e-4, Teacher.Kind.EMA, 0.01,
          DistillConfig.reverseKlTopK(20), 5.0, 1.0, maxNewTokens, Reprompt.Templates.reference(),
          Runtime.getRuntime().availableProcessors());
    }
  }

  /** Generations until the first success (budget + 1 if none), one per seed. */
  public record Discovery(String method, int[] firstSuccess) {}

  /** Test-time SDPO from a fresh copy of the base model, for one seed. */
  public static int sdpo(CausalLm base, Tokenizer tok, Environment env, Task task, Settings s, long seed) {
    CausalLm student = base.copy(base.dtype());
    Teacher teacher = Teacher.create(s.teacher(), student, s.teacherRate());
    AdamW opt = new AdamW(student.namedParameters(), new AdamW.Settings(0.9, 0.999, 1e-8, 0.01));
    SdpoStep.Algorithm algo = s.advantageClip() == null ? SdpoStep.Algorithm.sdpo()
        : new SdpoStep.Algorithm("blend_advantage", 0.0, 1.0, s.advantageClip());
    Reprompt.Config rc = new Reprompt.Config(s.templates(), true, true, true, 1.0,
        base.config().nPositions() - s.maxNewTokens(), Reprompt.Truncation.CUT_CONTEXT);
    int used = 0;
    for (int round = 0; used < s.budget(); round++) {
      int n = Math.min(s.batch(), s.budget() - used);
      Sampler.Settings sampling = new Sampler.Settings(s.temperature(), 0, 1.0, false,
          s.maxNewTokens(), List.of(), seed * 1_000_003L + round);
      SdpoStep.Setup setup = new SdpoStep.Setup(student, teacher, tok, env, sampling, n, rc,
          s.loss(), algo, Grpo.Config.reference(), opt, s.lr(), 1.0, 1, s.threads());
      SdpoStep.Report r = SdpoStep.run(setup, List.of(task), new Rng(seed * 31L + round));
      for (int i = 0; i < r.verdicts().size(); i++) {
        if (r.verdicts().get(i).success()) {
          return used + i + 1;
        }
      }
      used += n;
    }
    return s.budget() + 1;
  }

  /** Multi-turn: one attempt per turn with all past feedback in the prompt (FIFO when full). */
  public static int multiTurn(CausalLm base, Tokenizer tok, Environment env, Task task, Settings s,
      long seed) {
    List<String> feedback = new ArrayList<>();
    int maxPrompt = base.config().nPositions() - s.maxNewTokens();
    for (int k = 0; k < s.budget(); k++) {
      String prompt = task.prompt();
      while (true) {
        prompt = multiTurnPrompt(task.prompt(), feedback, s.templates());
        if (tok.encodePrompt(prompt).length <= maxPrompt || feedback.isEmpty()) {
          break;
        }
        feedback.remove(0); // the oldest feedback goes first
      }
      int[] p = tok.encodePrompt(prompt);
      if (p.length > maxPrompt) {
        p = java.util.Arrays.copyOfRange(p, p.length - maxPrompt, p.length);
      }
      Sampler.Sample x = Sampler.generate(base, tok, List.of(p), new Sampler.Settings(
          s.temperature(), 0, 1.0, false, s.maxNewTokens(), List.of(), seed * 7919L + k)).get(0);
      Verdict v = Verifiers.safeVerify(env, task, x.text());
      if (v.success()) {
        return k + 1;
      }
      feedback.add(v.feedback().isEmpty() ? "Wrong answer." : v.feedback());
    }
    return s.budget() + 1;
  }

  /**
   * The multi-turn prompt: the question, then one feedback section per past attempt (oldest
   * first), then the instruction, in the teacher's templates ({@code Q|Ffb1|Ffb2|} in the compact
   * ones); the bare question when there is no feedback yet.
   */
  static String multiTurnPrompt(String question, List<String> feedback, Reprompt.Templates t) {
    if (feedback.isEmpty()) {
      return question;
    }
    StringBuilder sections = new StringBuilder();
    for (String f : feedback) {
      sections.append(Reprompt.fill(t.feedback(), Map.of("feedback_raw", f)));
    }
    return Reprompt.fill(t.reprompt(), Map.of("prompt", question, "solution", "",
        "feedback", sections.toString()));
  }

  /** Successes among n i.i.d. samples of the base model (for the unbiased pass@k). */
  public static int bestOfK(CausalLm base, Tokenizer tok, Environment env, Task task, Settings s, int n,
      long seed) {
    int[] p = tok.encodePrompt(task.prompt());
    List<int[]> prompts = java.util.Collections.nCopies(n, p);
    List<Task> tasks = java.util.Collections.nCopies(n, task);
    int c = 0;
    for (Verdict v : Rollouts.sampleAndVerify(base, tok, env, prompts, tasks, s.batch(),
        done -> new Sampler.Settings(s.temperature(), 0, 1.0, false, s.maxNewTokens(), List.of(),
            seed * 104729L + done), s.threads())) {
      c += v.success() ? 1 : 0;
    }
    return c;
  }

  /** The unbiased pass@k estimator 1 - C(n - c, k) / C(n, k) (Chen et al. 2021). */
  public static double passAtK(int n, int c, int k) {
    if (n - c < k) {
      return 1.0;
    }
    double prod = 1.0;
    for (int i = n - c + 1; i <= n; i++) {
      prod *= 1.0 - (double) k / i;
    }
    return 1.0 - prod;
  }

  /** discovery@k = fraction of seeds whose first success came at or before k. */
  public static double discovery(int[] first, int k) {
    int hit = 0;
    for (int f : first) {
      hit += f <= k ? 1 : 0;
    }
    return (double) hit / first.length;
  }

  /** A 90% bootstrap interval of discovery@k over the seeds (1000 resamples, seeded). */
  public static double[] bootstrap(int[] first, int k, long seed) {
    Rng rng = new Rng(seed);
    double[] means = new double[1000];
    for (int b = 0; b < means.length; b++) {
      int hit = 0;
      for (int i = 0; i < first.length; i++) {
        hit += first[rng.nextInt(first.length)] <= k ? 1 : 0;
      }
      means[b] = (double) hit / first.length;
    }
    java.util.Arrays.sort(means);
    return new double[] {means[49], means[949]};
  }

  /** discovery@k rows for k = 1, 2, 4, ... up to the budget. */
  public static Map<Integer, double[]> table(int[] first, int budget, long seed) {
    Map<Integer, double[]> rows = new LinkedHashMap<>();
    for (int k = 1; k <= budget; k *= 2) {
      double[] ci = bootstrap(first, k, seed + k);
      rows.put(k, new double[] {discovery(first, k), ci[0], ci[1]});
    }
    return rows;
  }
}
