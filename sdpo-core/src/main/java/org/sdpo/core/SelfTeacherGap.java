package org.sdpo.core;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import org.sdpo.transformer.CausalLm;
import org.sdpo.transformer.sample.Sampler;
import org.sdpo.transformer.tokenizer.Tokenizer;
import org.sdpo.verifiers.Environment;
import org.sdpo.verifiers.FeedbackLevel;
import org.sdpo.verifiers.Split;
import org.sdpo.verifiers.Task;
import org.sdpo.verifiers.Verdict;

/**
 * The self-teacher gap, the quantity SDPO lives on: how much better the model does with feedback
 * (or a correct demonstration) in its context than without. SDPO distils the difference between
 * the two; a model that cannot read its context has no gap and SDPO has nothing to distil.
 *
 * <p>On held-out (test split) questions, measured with one model as both student and teacher:
 *
 * <ol>
 *   <li><b>student accuracy</b>: k sampled attempts per question after the bare question, and
 *       the student's accuracy when it tries the questions it failed once more (the baseline the
 *       teacher rows compare with: the same, harder, questions without a teacher context);
 *   <li><b>teacher accuracy at each feedback level</b>: for every failed student attempt, one new
 *       attempt after the teacher context holding that attempt's feedback at the level (the
 *       context SDPO's teacher would see); the questions are the ones the student failed, so this
 *       is conservative against the student's accuracy on all questions;
 *   <li><b>teacher accuracy with a demonstration</b>: one attempt per student attempt after the
 *       teacher context holding the reference solution (a successful sibling's context);
 *   <li><b>the per-token advantage</b> log q(y_t) - log p(y_t) of the failed attempts' own tokens
 *       (q: after the teacher context, p: after the question), averaged separately over the
 *       tokens the environment marks wrong ({@code wrong_positions} in the verdict's details) and
 *       the others: a teacher that reads the feedback puts a large negative advantage on exactly
 *       the wrong tokens.
 * </ol>
 *
 * Accuracies come with Wilson 95% intervals, mean advantages with normal 95% intervals.
 */
public final class SelfTeacherGap {
  private SelfTeacherGap() {}

  /**
   * What to measure.
   *
   * @param questions held-out questions
   * @param samples student attempts per question
   * @param difficulty question difficulty (0: mixed)
   * @param temperature sampling temperature of student and teacher attempts (1: the RL rollouts')
   * @param levels feedback levels for the teacher (none is skipped: its teacher is the student)
   * @param demonstration also measure the teacher with a correct demonstration
   * @param advantages also measure the per-token advantage on wrong and right tokens
   */
  public record Settings(int questions, int samples, int difficulty, int maxNewTokens,
      double temperature, long seed, Reprompt.Templates templates, List<FeedbackLevel> levels,
      boolean demonstration, boolean advantages, int threads) {
    public Settings {
      if (questions < 1 || samples < 1 || maxNewTokens < 1 || threads < 1 || !(temperature > 0)) {
        throw new IllegalArgumentException("gap: questions, samples, max_new_tokens and threads "
            + "must be >= 1 and the temperature > 0");
      }
      levels = List.copyOf(levels);
    }
  }

  /** A success rate with its Wilson 95% interval. */
  public record Rate(long successes, long n) {
    public double mean() {
      return n == 0 ? Double.NaN : successes / (double) n;
    }

    /** Lower end of the Wilson score interval (z = 1.96). */
    public double lo() {
      return wilson(-1);
    }

    /** Upper end of the Wilson score interval (z = 1.96). */
    public double hi() {
      return wilson(1);
    }

    private double wilson(int sign) {
      if (n == 0) {
        return Double.NaN;
      }
      double z = 1.959963984540054;
      double p = mean();
      double d = 1 + z * z / n;
      double c = (p + z * z / (2.0 * n)) / d;
      double h = z * Math.sqrt(p * (1 - p) / n + z * z / (4.0 * n * n)) / d;
      return Math.max(0, Math.min(1, c + sign * h));
    }

    public Map<String, Object> toMap() {
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("accuracy", mean());
      m.put("ci95_low", lo());
      m.put("ci95_high", hi());
      m.put("successes", successes);
      m.put("n", n);
      return m;
    }
  }

  /** Mean per-token advantage (log q - log p) over a set of tokens, with a 95% interval. */
  public record Mean(double mean, double ci95, long n) {
    static Mean of(List<Double> xs) {
      int n = xs.size();
      if (n == 0) {
        return new Mean(Double.NaN, Double.NaN, 0);
      }
      double m = xs.stream().mapToDouble(Double::doubleValue).average().orElse(Double.NaN);
      double ss = 0;
      for (double x : xs) {
        ss += (x - m) * (x - m);
      }
      double sd = n > 1 ? Math.sqrt(ss / (n - 1)) : Double.NaN;
      return new Mean(m, 1.959963984540054 * sd / Math.sqrt(n), n);
    }

    public Map<String, Object> toMap() {
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("mean", mean);
      m.put("ci95", ci95);
      m.put("tokens", n);
      return m;
    }
  }

  /** The advantage on the tokens the environment marks wrong and on the others. */
  public record Advantage(Mean wrong, Mean right) {}

  /**
   * Everything measured; the teacher and advantage maps are keyed by feedback level, in the
   * order asked for. {@code teacherSkipped} counts, per level, failed attempts without feedback
   * text or whose context did not fit the model.
   */
  public record Result(Rate student, Rate studentRetry, Map<FeedbackLevel, Rate> teacher,
      Rate demonstration, Map<FeedbackLevel, Advantage> advantage,
      Map<Integer, Rate> studentByDifficulty, Map<FeedbackLevel, Integer> teacherSkipped) {

    /** Teacher accuracy at the level minus student accuracy (NaN if not measured). */
    public double gap(FeedbackLevel level) {
      Rate t = teacher.get(level);
      return t == null ? Double.NaN : t.mean() - student.mean();
    }

    /** As JSON-ready maps. */
    public Map<String, Object> toMap() {
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("student", student.toMap());
      m.put("student_retry_on_failed", studentRetry.toMap());
      Map<String, Object> byDiff = new LinkedHashMap<>();
      studentByDifficulty.forEach((d, r) -> byDiff.put(Integer.toString(d), r.toMap()));
      m.put("student_by_difficulty", byDiff);
      Map<String, Object> t = new LinkedHashMap<>();
      teacher.forEach((l, r) -> {
        Map<String, Object> e = new LinkedHashMap<>(r.toMap());
        e.put("gap", gap(l));
        e.put("skipped", teacherSkipped.getOrDefault(l, 0));
        t.put(l.id(), e);
      });
      m.put("teacher", t);
      if (demonstration != null) {
        m.put("teacher_demonstration", demonstration.toMap());
      }
      Map<String, Object> a = new LinkedHashMap<>();
      advantage.forEach((l, v) -> {
        Map<String, Object> e = new LinkedHashMap<>();
        e.put("wrong_tokens", v.wrong().toMap());
        e.put("right_tokens", v.right().toMap());
        a.put(l.id(), e);
      });
      m.put("advantage", a);
      return m;
    }

    /** The result as a table for a terminal. */
    public String table() {
      StringBuilder sb = new StringBuilder();
      sb.append(String.format(Locale.ROOT, "%-26s %9s  %-15s %6s  %7s%n", "", "accuracy", "95% CI",
          "n", "gap"));
      row(sb, "student", student, Double.NaN);
      studentByDifficulty.forEach((d, r) -> row(sb, "  difficulty " + d, r, Double.NaN));
      row(sb, "student, again on failed", studentRetry, Double.NaN);
      teacher.forEach((l, r) -> row(sb, "teacher, " + l.id() + " feedback", r, gap(l)));
      if (demonstration != null) {
        row(sb, "teacher, demonstration", demonstration, demonstration.mean() - student.mean());
      }
      if (advantage.values().stream().anyMatch(a -> a.wrong().n() + a.right().n() > 0)) {
        sb.append(String.format(Locale.ROOT, "%nper-token advantage log q - log p of the failed "
            + "attempts' tokens (mean ± 95%% CI):%n"));
        sb.append(String.format(Locale.ROOT, "%-26s %-24s %-24s%n", "", "wrong tokens",
            "right tokens"));
        advantage.forEach((l, a) -> sb.append(String.format(Locale.ROOT, "%-26s %-24s %-24s%n",
            l.id() + " feedback", mean(a.wrong()), mean(a.right()))));
      }
      return sb.toString();
    }

    private static void row(StringBuilder sb, String label, Rate r, double gap) {
      sb.append(String.format(Locale.ROOT, "%-26s %9.3f  [%.3f, %.3f]  %6d  %7s%n", label, r.mean(),
          r.lo(), r.hi(), r.n(), Double.isNaN(gap) ? "" : String.format(Locale.ROOT, "%+.3f", gap)));
    }

    private static String mean(Mean m) {
      return m.n() == 0 ? "n/a" : String.format(Locale.ROOT, "%+.3f ± %.3f (%d)", m.mean(),
          m.ci95(), m.n());
    }
  }

  /** Measures the gap of {@code model} on the environment's held-out questions. */
  public static Result measure(CausalLm model, Tokenizer tok, Environment env, Settings s) {
    List<Task> tasks = env.tasks(Split.TEST, s.questions(), s.seed() * 7L + 3, s.difficulty());
    return measure(model, tok, env, tasks, s);
  }

  /** Measures the gap on the given questions. */
  public static Result measure(CausalLm model, Tokenizer tok, Environment env, List<Task> tasks,
      Settings s) {
    int maxContext = model.config().nPositions() - s.maxNewTokens();
    // 1. the student: k attempts per question
    List<int[]> prompts = new ArrayList<>();
    List<Task> of = new ArrayList<>();
    for (Task t : tasks) {
      int[] p = tok.encodePrompt(t.prompt());
      for (int i = 0; i < s.samples(); i++) {
        prompts.add(p);
        of.add(t);
      }
    }
    List<Sampler.Sample> attempts = new ArrayList<>();
    List<Verdict> plain = new ArrayList<>();
    for (int c = 0; c < prompts.size(); c += CHUNK) {
      int e = Math.min(prompts.size(), c + CHUNK);
      List<Sampler.Sample> xs = Sampler.generate(model, tok, prompts.subList(c, e),
          settings(s, 0, c));
      attempts.addAll(xs);
      plain.addAll(org.sdpo.verifiers.Verifiers.verifyAll(env, of.subList(c, e),
          xs.stream().map(Sampler.Sample::text).toList(), s.threads()));
    }
    Rate student = rate(plain);
    Map<Integer, List<Verdict>> byDiff = new TreeMap<>();
    for (int i = 0; i < of.size(); i++) {
      byDiff.computeIfAbsent(of.get(i).difficulty(), d -> new ArrayList<>()).add(plain.get(i));
    }
    Map<Integer, Rate> studentByDifficulty = new LinkedHashMap<>();
    if (byDiff.size() > 1) {
      byDiff.forEach((d, v) -> studentByDifficulty.put(d, rate(v)));
    }
    // the student once more on the questions it failed: the teacher's baseline
    List<int[]> retry = new ArrayList<>();
    List<Task> retryOf = new ArrayList<>();
    for (int i = 0; i < attempts.size(); i++) {
      if (!plain.get(i).success()) {
        retry.add(prompts.get(i));
        retryOf.add(of.get(i));
      }
    }
    Rate studentRetry = rate(sampleAndVerify(model, tok, env, retry, retryOf, s, 1));

    // 2. the teacher at each level, on the failed attempts, with their feedback at that level
    Map<FeedbackLevel, Rate> teacher = new LinkedHashMap<>();
    Map<FeedbackLevel, Advantage> advantage = new LinkedHashMap<>();
    Map<FeedbackLevel, Integer> skipped = new LinkedHashMap<>();
    int salt = 1;
    for (FeedbackLevel level : s.levels()) {
      salt++;
      if (level == FeedbackLevel.NONE) {
        continue; // no feedback: the teacher context is the question, the teacher the student
      }
      Environment grader = env.withFeedback(level);
      List<int[]> contexts = new ArrayList<>();
      List<Task> cOf = new ArrayList<>();
      List<Integer> attemptOf = new ArrayList<>();
      List<Verdict> failedVerdicts = new ArrayList<>();
      int skip = 0;
      for (int i = 0; i < attempts.size(); i++) {
        if (plain.get(i).success()) {
          continue;
        }
        Verdict v = org.sdpo.verifiers.Verifiers.safeVerify(grader, of.get(i),
            attempts.get(i).text());
        int[] ctx = v.feedback().isEmpty() ? null
            : tok.encodePrompt(Reprompt.assemble(of.get(i).prompt(), null, v.feedback(), s.templates()));
        if (ctx == null || ctx.length > maxContext) {
          skip++;
          continue;
        }
        contexts.add(ctx);
        cOf.add(of.get(i));
        attemptOf.add(i);
        failedVerdicts.add(v);
      }
      teacher.put(level, rate(sampleAndVerify(model, tok, env, contexts, cOf, s, salt)));
      skipped.put(level, skip);
      if (s.advantages()) {
        advantage.put(level, advantage(model, tok, contexts, attemptOf, failedVerdicts, prompts,
            attempts));
      }
    }

    // 3. the teacher with a correct demonstration
    Rate demonstration = null;
    if (s.demonstration()) {
      List<int[]> contexts = new ArrayList<>();
      List<Task> cOf = new ArrayList<>();
      for (Task t : of) {
        int[] ctx = tok.encodePrompt(Reprompt.assemble(t.prompt(), t.reference(), null, s.templates()));
        if (ctx.length <= maxContext) {
          contexts.add(ctx);
          cOf.add(t);
        }
      }
      demonstration = rate(sampleAndVerify(model, tok, env, contexts, cOf, s, 99));
    }
    return new Result(student, studentRetry, teacher, demonstration, advantage,
        studentByDifficulty, skipped);
  }

  /** Prompts sampled per call: bounds the memory of one batch. */
  private static final int CHUNK = 64;

  private static Sampler.Settings settings(Settings s, int salt, int offset) {
    return new Sampler.Settings(s.temperature(), 0, 1.0, false, s.maxNewTokens(), List.of(),
        (s.seed() * 1009L + salt) * 1_000_003L + offset);
  }

  private static List<Verdict> sampleAndVerify(CausalLm model, Tokenizer tok, Environment env,
      List<int[]> prompts, List<Task> of, Settings s, int salt) {
    return Rollouts.sampleAndVerify(model, tok, env, prompts, of, CHUNK,
        off -> settings(s, salt, off), s.threads());
  }

  private static Rate rate(List<Verdict> v) {
    return new Rate(v.stream().filter(Verdict::success).count(), v.size());
  }

  /**
   * The mean of log q - log p over the failed attempts' tokens that the verdict marks wrong, and
   * over the others; tokens without characters (end of text) are left out.
   */
  @SuppressWarnings("unchecked")
  static Advantage advantage(CausalLm model, Tokenizer tok, List<int[]> teacherContexts,
      List<Integer> attemptOf, List<Verdict> verdicts, List<int[]> prompts,
      List<Sampler.Sample> attempts) {
    List<Double> wrong = new ArrayList<>();
    List<Double> right = new ArrayList<>();
    for (int c = 0; c < teacherContexts.size(); c += CHUNK) {
      int e = Math.min(teacherContexts.size(), c + CHUNK);
      List<Scoring.Sequence> tSeq = new ArrayList<>();
      List<Scoring.Sequence> sSeq = new ArrayList<>();
      List<Integer> kept = new ArrayList<>();
      for (int k = c; k < e; k++) {
        Object wp = verdicts.get(k).details().get("wrong_positions");
        int[] resp = attempts.get(attemptOf.get(k)).tokens();
        if (!(wp instanceof List<?>) || resp.length == 0) {
          continue;
        }
        kept.add(k);
        tSeq.add(new Scoring.Sequence(teacherContexts.get(k), resp));
        sSeq.add(new Scoring.Sequence(prompts.get(attemptOf.get(k)), resp));
      }
      if (kept.isEmpty()) {
        continue;
      }
      double[] lq = pickedLogprobs(model, tSeq);
      double[] lp = pickedLogprobs(model, sSeq);
      int row = 0;
      for (int j = 0; j < kept.size(); j++) {
        int k = kept.get(j);
        int[] resp = tSeq.get(j).response();
        java.util.Set<Long> bad = new java.util.HashSet<>();
        for (Object o : (List<Object>) verdicts.get(k).details().get("wrong_positions")) {
          if (o instanceof Number n) {
            bad.add(n.longValue());
          }
        }
        int[] start = charStarts(tok, resp);
        for (int t = 0; t < resp.length; t++, row++) {
          if (start[t + 1] == start[t]) {
            continue; // no characters (end of text)
          }
          boolean isWrong = false;
          for (long ch = start[t]; ch < start[t + 1]; ch++) {
            isWrong |= bad.contains(ch);
          }
          (isWrong ? wrong : right).add(lq[row] - lp[row]);
        }
      }
    }
    return new Advantage(Mean.of(wrong), Mean.of(right));
  }

  /**
   * log softmax at each response token of each sequence, in order (in chunks of rows where the
   * logits would pass SDPO's default chunk bound, as the update does).
   */
  private static double[] pickedLogprobs(CausalLm model, List<Scoring.Sequence> seqs) {
    return Scoring.responseLogprobs(model, seqs, Scoring.DEFAULT_PAD_MULTIPLE, 1.0,
        Scoring.chunkRows(model, SdpoStep.DEFAULT_LOGITS_CHUNK_BYTES));
  }

  /** start[t] = character offset of token t in the decoded response; start[n] = its length. */
  static int[] charStarts(Tokenizer tok, int[] tokens) {
    int[] start = new int[tokens.length + 1];
    for (int t = 1; t <= tokens.length; t++) {
      start[t] = tok.decode(java.util.Arrays.copyOf(tokens, t), true).length();
    }
    return start;
  }
}
