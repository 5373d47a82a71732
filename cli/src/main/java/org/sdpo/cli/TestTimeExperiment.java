package org.sdpo.cli;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import me.tongfei.progressbar.ProgressBar;
import org.sdpo.core.DistillConfig;
import org.sdpo.core.Reprompt;
import org.sdpo.core.Teacher;
import org.sdpo.core.TestTime;
import org.sdpo.tensor.DType;
import org.sdpo.transformer.CausalLm;
import org.sdpo.transformer.io.AtomicFiles;
import org.sdpo.transformer.io.Checkpoint;
import org.sdpo.transformer.tokenizer.Tokenizer;
import org.sdpo.verifiers.Environment;
import org.sdpo.verifiers.FeedbackLevel;
import org.sdpo.verifiers.Split;
import org.sdpo.verifiers.Task;
import org.sdpo.verifiers.Verifiers;

/**
 * The test-time experiment (paper §5): held-out questions the base model rarely solves, each
 * attacked by test-time SDPO, by multi-turn prompting with all past feedback, and by i.i.d.
 * sampling (best-of-k); discovery@k = probability of a success within the first k generations,
 * pooled over questions and seeds.
 */
final class TestTimeExperiment {
  static final Map<String, Object> DEFAULTS = new LinkedHashMap<>();

  static {
    DEFAULTS.put("env", "code");
    DEFAULTS.put("feedback", "full");
    DEFAULTS.put("difficulty", 1);
    DEFAULTS.put("candidates", 48); // test questions probed
    DEFAULTS.put("probe_samples", 16); // base-model samples per candidate
    DEFAULTS.put("max_base_rate", 0.125); // "rarely solves": at most this success rate
    DEFAULTS.put("tasks", 6);
    DEFAULTS.put("budget", 64);
    DEFAULTS.put("batch", 8);
    DEFAULTS.put("lr", 1e-4);
    DEFAULTS.put("teacher", "ema");
    DEFAULTS.put("teacher_update_rate", 0.01);
    DEFAULTS.put("templates", "reference");
    DEFAULTS.put("advantage_clip", 5.0); // the reference's test-time setting; null: plain SDPO
    DEFAULTS.put("max_new_tokens", 40);
    DEFAULTS.put("best_of_n", 256);
  }

  private TestTimeExperiment() {}

  /** The experiment's {@code test_time} options over the defaults; an unknown key is an error. */
  static Map<String, Object> options(Map<String, Object> given) {
    Map<String, Object> o = new LinkedHashMap<>(DEFAULTS);
    for (var kv : given.entrySet()) {
      if (!DEFAULTS.containsKey(kv.getKey())) {
        throw new IllegalArgumentException("test_time: unknown key '" + kv.getKey() + "' (known: "
            + String.join(", ", DEFAULTS.keySet()) + ")");
      }
      o.put(kv.getKey(), kv.getValue());
    }
    return o;
  }

  /** The environment and settings the options describe (checked when the file is read). */
  static Environment environment(Map<String, Object> o) {
    return Verifiers.byName(Experiment.str(o, "env"))
        .withFeedback(FeedbackLevel.parse(Experiment.str(o, "feedback")));
  }

  static TestTime.Settings settings(Map<String, Object> o) {
    String teacher = Experiment.str(o, "teacher");
    if (!List.of("ema", "trust_region", "frozen", "live").contains(teacher)) {
      throw new IllegalArgumentException("test_time: 'teacher' must be ema, trust_region, frozen "
          + "or live, got " + teacher);
    }
    return new TestTime.Settings(Experiment.i(o, "batch"), Experiment.i(o, "budget"),
        Experiment.d(o, "lr"), Teacher.Kind.valueOf(teacher.toUpperCase(Locale.ROOT)),
        Experiment.d(o, "teacher_update_rate"), DistillConfig.reverseKlTopK(20),
        o.get("advantage_clip") == null ? null : Experiment.d(o, "advantage_clip"), 1.0,
        Experiment.i(o, "max_new_tokens"), Reprompt.Templates.named(Experiment.str(o, "templates")),
        Runtime.getRuntime().availableProcessors());
  }

  static Map<String, Object> run(Experiment e, Path base, PrintStream log) throws Exception {
    Map<String, Object> o = options(e.testTime());
    log.println("test-time settings: " + o);
    CausalLm model = Checkpoint.load(base, DType.FLOAT32);
    Tokenizer tok = org.sdpo.transformer.tokenizer.ChatPrompts.forModel(base, "auto", false);
    Environment env = environment(o);
    int budget = Experiment.i(o, "budget");
    TestTime.Settings s = settings(o);
    long seed0 = e.seeds().get(0);

    // questions the base model rarely solves
    List<Task> candidates = env.tasks(Split.TEST, Experiment.i(o, "candidates"), seed0 * 131L,
        Experiment.i(o, "difficulty"));
    int probe = Experiment.i(o, "probe_samples");
    List<Task> hard = new ArrayList<>();
    List<Double> rates = new ArrayList<>();
    try (ProgressBar pb = Progress.bar("probe", candidates.size())) {
      for (Task t : candidates) {
        double rate = TestTime.bestOfK(model, tok, env, t, s, probe, seed0) / (double) probe;
        if (rate <= Experiment.d(o, "max_base_rate") && hard.size() < Experiment.i(o, "tasks")) {
          hard.add(t);
          rates.add(rate);
        }
        pb.step();
      }
    }
    if (hard.isEmpty()) {
      throw new IllegalArgumentException("test_time: no candidate question has a base success "
          + "rate <= max_base_rate; raise it or draw more candidates");
    }
    log.println("hard questions: " + hard.size() + ", base success rates " + rates);

    // each method on each question and seed
    int n = Experiment.i(o, "best_of_n");
    List<Integer> sdpo = new ArrayList<>();
    List<Integer> multi = new ArrayList<>();
    int[] bestC = new int[hard.size()];
    try (ProgressBar pb = Progress.bar("test-time", (long) hard.size() * (e.seeds().size() + 1))) {
      for (int q = 0; q < hard.size(); q++) {
        Task t = hard.get(q);
        bestC[q] = TestTime.bestOfK(model, tok, env, t, s, n, seed0 + 17);
        pb.step();
        for (long seed : e.seeds()) {
          sdpo.add(TestTime.sdpo(model, tok, env, t, s, seed));
          multi.add(TestTime.multiTurn(model, tok, env, t, s, seed));
          pb.step();
        }
      }
    }
    int[] fs = sdpo.stream().mapToInt(Integer::intValue).toArray();
    int[] fm = multi.stream().mapToInt(Integer::intValue).toArray();
    Map<Integer, double[]> ts = TestTime.table(fs, budget, 11);
    Map<Integer, double[]> tm = TestTime.table(fm, budget, 13);
    StringBuilder md = new StringBuilder("| k | test-time SDPO (90% CI) | multi-turn (90% CI) | "
        + "best-of-k |\n|---|---|---|---|\n");
    StringBuilder csv = new StringBuilder("k,sdpo,sdpo_lo,sdpo_hi,multi_turn,multi_lo,multi_hi,best_of_k\n");
    List<Double> ks = new ArrayList<>();
    List<Double> ys = new ArrayList<>();
    List<Double> ym = new ArrayList<>();
    List<Double> yb = new ArrayList<>();
    for (int k : ts.keySet()) {
      double[] a = ts.get(k);
      double[] b = tm.get(k);
      double bo = 0;
      for (int c : bestC) {
        bo += TestTime.passAtK(n, c, Math.min(k, n)) / bestC.length;
      }
      md.append(String.format(Locale.ROOT, "| %d | %.2f (%.2f–%.2f) | %.2f (%.2f–%.2f) | %.2f |%n",
          k, a[0], a[1], a[2], b[0], b[1], b[2], bo));
      csv.append(String.format(Locale.ROOT, "%d,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f%n", k, a[0],
          a[1], a[2], b[0], b[1], b[2], bo));
      ks.add((double) k);
      ys.add(a[0]);
      ym.add(b[0]);
      yb.add(bo);
    }
    AtomicFiles.writeString(e.out().resolve("results.md"), md);
    AtomicFiles.writeString(e.out().resolve("results.csv"), csv);
    double[] x = ks.stream().mapToDouble(Double::doubleValue).toArray();
    Charts.lines(e.out().resolve("discovery.png"), e.name() + ": discovery@k on " + hard.size()
        + " hard questions x " + e.seeds().size() + " seeds", "k (generations)", "discovery@k",
        List.of(new Charts.Series("test-time SDPO", x, arr(ys), null),
            new Charts.Series("multi-turn", x, arr(ym), null),
            new Charts.Series("best-of-k", x, arr(yb), null)), true);
    log.println();
    log.print(md);
    log.println("chart: " + Charts.shown(e.out().resolve("discovery.png")));
    Map<String, Object> summary = new LinkedHashMap<>();
    summary.put("settings", o);
    summary.put("questions", hard.stream().map(Task::id).toList());
    summary.put("base_rates", rates);
    summary.put("first_success_sdpo", fs);
    summary.put("first_success_multi_turn", fm);
    summary.put("best_of_n", n);
    summary.put("best_of_successes", bestC);
    return summary;
  }

  private static double[] arr(List<Double> v) {
    return v.stream().mapToDouble(Double::doubleValue).toArray();
  }
}
