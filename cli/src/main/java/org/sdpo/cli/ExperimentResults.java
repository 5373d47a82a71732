package org.sdpo.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;
import org.sdpo.core.SelfTeacherGap;
import org.sdpo.core.TrainConfig;
import org.sdpo.transformer.CausalLm;
import org.sdpo.transformer.io.AtomicFiles;
import org.sdpo.transformer.tokenizer.Tokenizer;
import org.sdpo.verifiers.Environment;
import org.sdpo.verifiers.FeedbackLevel;

/**
 * The summary of a train experiment (arms x seeds): held-out accuracy against generations with
 * 95% intervals over seeds, how many generations each arm needed to reach GRPO's final accuracy,
 * whether its final interval is apart from GRPO's, accuracy by difficulty, whether the models
 * still read their context as RL goes on, and the final gain against the initial self-teacher gap.
 * Writes {@code results.md}, {@code results.csv} and the charts.
 */
final class ExperimentResults {
  private ExperimentResults() {}

  /** What one run (arm, seed) logged. */
  record Run(TreeMap<Long, Double> curve, double finalPass, double secondsPerStep,
      TreeMap<Long, Double> teacher, TreeMap<Long, Double> studentContext,
      TreeMap<Integer, Double> finalByDifficulty) {

    /** Reads a run's metrics.jsonl; generation 0 is {@code baseAccuracy}. */
    static Run read(Path metrics, String key, double baseAccuracy) throws IOException {
      ObjectMapper json = new ObjectMapper();
      TreeMap<Long, Double> curve = new TreeMap<>();
      curve.put(0L, baseAccuracy);
      TreeMap<Long, Double> teacher = new TreeMap<>();
      TreeMap<Long, Double> context = new TreeMap<>();
      TreeMap<Integer, Double> byDifficulty = new TreeMap<>();
      double pass = Double.NaN;
      double sec = 0;
      int steps = 0;
      for (JsonNode j : org.sdpo.transformer.io.TextFiles.readJsonLines(json, metrics)) {
        sec += j.path("step_seconds").asDouble(0);
        steps++;
        long g = j.path("generations").asLong();
        if (j.has("val_" + key)) {
          curve.put(g, j.path("val_" + key).asDouble());
          pass = j.path("val_" + key.replace("avg", "pass")).asDouble();
          byDifficulty.clear();
          for (Iterator<String> it = j.fieldNames(); it.hasNext(); ) {
            String f = it.next();
            if (f.startsWith("val_" + key + "_d")) {
              byDifficulty.put(Integer.parseInt(f.substring(("val_" + key + "_d").length())),
                  j.get(f).asDouble());
            }
          }
        }
        if (j.has("val_teacher_accuracy")) {
          teacher.put(g, j.path("val_teacher_accuracy").asDouble());
          context.put(g, j.path("val_student_context_accuracy").asDouble());
        }
      }
      return new Run(curve, pass, steps == 0 ? Double.NaN : sec / steps, teacher, context,
          byDifficulty);
    }

    /** The run with its final accuracy by difficulty measured on a final checkpoint. */
    Run withFinalByDifficulty(CausalLm model, Tokenizer tok, TrainConfig c, long seed) {
      Environment env = c.environment();
      String prefix = "avg_at_" + c.integer("val_k") + "_d";
      TreeMap<Integer, Double> by = new TreeMap<>();
      org.sdpo.core.Trainer.validate(model, tok, env, c, seed).forEach((k, v) -> {
        if (k.startsWith(prefix)) {
          by.put(Integer.parseInt(k.substring(prefix.length())), ((Number) v).doubleValue());
        }
      });
      return new Run(curve, finalPass, secondsPerStep, teacher, studentContext, by);
    }
  }

  /** An arm's initial self-teacher gap on the base model: teacher minus student accuracy. */
  record Gap(String context, double student, double teacher) {
    double gap() {
      return teacher - student;
    }
  }

  /**
   * The base model's gap for an arm's teacher context: its feedback level, or (feedback off) a
   * correct demonstration; 256 held-out questions, the arm's templates, budget and temperature.
   */
  static Gap initialGap(CausalLm model, Tokenizer tok, TrainConfig c) {
    FeedbackLevel level = FeedbackLevel.parse(c.str("feedback"));
    boolean feedback = level != FeedbackLevel.NONE && c.bool("include_environment_feedback");
    Environment env = c.environment();
    SelfTeacherGap.Result r = SelfTeacherGap.measure(model, tok, env,
        new SelfTeacherGap.Settings(256, 1, c.integer("difficulty"), c.integer("max_new_tokens"),
            c.dbl("temperature"), 1, c.templates(), feedback ? List.of(level) : List.of(),
            !feedback, false, c.integer("threads")));
    return feedback ? new Gap(level.id() + " feedback", r.student().mean(),
        r.teacher().get(level).mean())
        : new Gap("demonstration", r.student().mean(), r.demonstration().mean());
  }

  static Map<String, Object> aggregate(Experiment e, String key,
      Map<String, Map<Long, Run>> runs, Map<String, Gap> gaps, PrintStream log) throws IOException {
    String label = key.replace("_at_", "@");
    String k = key.substring(key.lastIndexOf('_') + 1);
    StringBuilder csv = new StringBuilder("arm,generations,mean,ci95,seeds\n");
    List<Charts.Series> series = new ArrayList<>();
    Map<String, Object> arms = new LinkedHashMap<>();
    Map<String, TreeMap<Long, Double>> meanCurves = new LinkedHashMap<>();
    Map<String, double[]> finals = new LinkedHashMap<>();
    for (var arm : runs.entrySet()) {
      TreeMap<Long, double[]> curve = meanOverSeeds(arm.getValue().values().stream()
          .map(Run::curve).toList());
      TreeMap<Long, Double> means = new TreeMap<>();
      curve.forEach((g, mc) -> {
        means.put(g, mc[0]);
        csv.append(String.format(Locale.ROOT, "%s,%d,%.6f,%.6f,%d%n", arm.getKey(), g, mc[0], mc[1],
            arm.getValue().size()));
      });
      meanCurves.put(arm.getKey(), means);
      series.add(series(arm.getKey(), curve));
      finals.put(arm.getKey(), arm.getValue().values().stream()
          .mapToDouble(r -> r.curve().lastEntry().getValue()).toArray());
    }
    // GRPO's final mean accuracy: how many generations each arm needed to reach it
    double[] grpoFinal = finals.containsKey("grpo") ? Stats.meanCi95(finals.get("grpo")) : null;
    Long grpoNeeds = grpoFinal == null ? null : firstReaching(meanCurves.get("grpo"), grpoFinal[0]);
    StringBuilder md = new StringBuilder("| arm | final " + label + " (mean ± 95% CI) | final pass@"
        + k + " | per seed | generations to GRPO's final mean | final vs GRPO | minus GRPO, paired"
        + " by seed | s/step |\n|---|---|---|---|---|---|---|---|\n");
    for (var arm : runs.entrySet()) {
      String name = arm.getKey();
      double[] mc = Stats.meanCi95(finals.get(name));
      double[] pass = Stats.meanCi95(arm.getValue().values().stream().mapToDouble(Run::finalPass)
          .toArray());
      double sps = Stats.meanCi95(arm.getValue().values().stream()
          .mapToDouble(Run::secondsPerStep).toArray())[0];
      StringBuilder per = new StringBuilder();
      for (double f : finals.get(name)) {
        per.append(per.length() == 0 ? "" : ", ").append(String.format(Locale.ROOT, "%.3f", f));
      }
      Long needs = grpoFinal == null ? null : firstReaching(meanCurves.get(name), grpoFinal[0]);
      String reach = grpoFinal == null ? "" : needs == null ? "not reached"
          : needs + (name.equals("grpo") || needs == 0 || grpoNeeds == null || grpoNeeds == 0 ? ""
              : String.format(Locale.ROOT, " (%.1fx fewer)", (double) grpoNeeds / needs));
      String vs = grpoFinal == null || name.equals("grpo") ? "" : versus(mc, grpoFinal);
      // the same seed means the same training and validation questions: the paired difference
      double[] paired = grpoFinal == null || name.equals("grpo") ? null
          : pairedDifference(runs.get(name), runs.get("grpo"));
      String pd = paired == null ? "" : String.format(Locale.ROOT, "%+.3f ± %s", paired[0],
          ci(paired[1]));
      md.append(String.format(Locale.ROOT, "| %s | %.3f ± %s | %.3f | %s | %s | %s | %s | %.2f |%n",
          name, mc[0], ci(mc[1]), pass[0], per, reach, vs, pd, sps));
      Map<String, Object> a = new LinkedHashMap<>();
      a.put("final_" + key, mc[0]);
      a.put("final_" + key + "_ci95", mc[1]);
      a.put("final_per_seed", finals.get(name));
      a.put("seconds_per_step", sps);
      a.put("generations_to_grpo_final", needs);
      if (!vs.isEmpty()) {
        a.put("final_vs_grpo", vs);
        a.put("minus_grpo_paired", paired[0]);
        a.put("minus_grpo_paired_ci95", paired[1]);
      }
      arms.put(name, a);
    }
    Charts.lines(e.out().resolve("accuracy.png"), e.name() + ": held-out " + label
        + " (mean ± 95% CI over " + e.seeds().size() + " seeds)", "generations", label, series,
        false);
    List<String> charts = new ArrayList<>(List.of("accuracy.png"));
    md.append(byDifficulty(e, runs, label, charts));
    md.append(contextReading(e, runs, charts));
    Map<String, Object> summary = new LinkedHashMap<>();
    if (gaps != null) {
      md.append(gapGain(e, finals, runs, gaps, charts, summary));
    }
    AtomicFiles.writeString(e.out().resolve("results.csv"), csv);
    AtomicFiles.writeString(e.out().resolve("results.md"), md);
    log.println();
    log.print(md);
    log.println("charts: " + String.join(", ", charts.stream().map(c -> e.out().resolve(c)
        .toString()).toList()));
    summary.put("metric", key);
    summary.put("arms", arms);
    return summary;
  }

  /** Mean and 95% interval of (arm final - GRPO final) over the seeds both ran. */
  static double[] pairedDifference(Map<Long, Run> arm, Map<Long, Run> grpo) {
    return Stats.meanCi95(arm.keySet().stream().filter(grpo::containsKey)
        .mapToDouble(seed -> arm.get(seed).curve().lastEntry().getValue()
            - grpo.get(seed).curve().lastEntry().getValue()).toArray());
  }

  /** "above, intervals apart", "intervals overlap" or "below, intervals apart". */
  static String versus(double[] arm, double[] grpo) {
    if (Double.isNaN(arm[1]) || Double.isNaN(grpo[1])) {
      return arm[0] > grpo[0] ? "above (1 seed)" : arm[0] < grpo[0] ? "below (1 seed)" : "equal";
    }
    if (arm[0] - arm[1] > grpo[0] + grpo[1]) {
      return "above, intervals apart";
    }
    if (arm[0] + arm[1] < grpo[0] - grpo[1]) {
      return "below, intervals apart";
    }
    return "intervals overlap";
  }

  /** Final accuracy by difficulty (when the validation mixes difficulties). */
  private static String byDifficulty(Experiment e, Map<String, Map<Long, Run>> runs, String label,
      List<String> charts) throws IOException {
    TreeSet<Integer> levels = new TreeSet<>();
    runs.values().forEach(m -> m.values().forEach(r -> levels.addAll(r.finalByDifficulty()
        .keySet())));
    if (levels.isEmpty()) {
      return "";
    }
    StringBuilder md = new StringBuilder("\nFinal " + label + " by difficulty (mean ± 95% CI):\n\n"
        + "| arm |");
    levels.forEach(d -> md.append(" difficulty ").append(d).append(" |"));
    md.append("\n|---|").append("---|".repeat(levels.size())).append('\n');
    List<Charts.Series> series = new ArrayList<>();
    for (var arm : runs.entrySet()) {
      md.append("| ").append(arm.getKey()).append(" |");
      double[] x = new double[levels.size()];
      double[] y = new double[levels.size()];
      double[] err = new double[levels.size()];
      int i = 0;
      for (int d : levels) {
        double[] mc = Stats.meanCi95(arm.getValue().values().stream()
            .mapToDouble(r -> r.finalByDifficulty().getOrDefault(d, Double.NaN)).toArray());
        md.append(String.format(Locale.ROOT, " %.3f ± %s |", mc[0], ci(mc[1])));
        x[i] = d;
        y[i] = mc[0];
        err[i++] = Double.isNaN(mc[1]) ? 0 : mc[1];
      }
      md.append('\n');
      series.add(new Charts.Series(arm.getKey(), x, y, err));
    }
    Charts.lines(e.out().resolve("difficulty.png"), e.name() + ": final held-out " + label
        + " by difficulty", "difficulty", label, series, false);
    charts.add("difficulty.png");
    return md.toString();
  }

  /** Whether the models still read their context as RL goes on ({@code val_teacher} runs). */
  private static String contextReading(Experiment e, Map<String, Map<Long, Run>> runs,
      List<String> charts) throws IOException {
    if (runs.values().stream().allMatch(m -> m.values().stream()
        .allMatch(r -> r.studentContext().isEmpty()))) {
      return "";
    }
    StringBuilder md = new StringBuilder("\nDoes the model still read its context? Accuracy with "
        + "the feedback (or a demonstration) in the context, mean over seeds, student's weights / "
        + "teacher's weights:\n\n| arm | first validation | last validation |\n|---|---|---|\n");
    List<Charts.Series> series = new ArrayList<>();
    TreeMap<Long, double[]> frozen = null;
    for (var arm : runs.entrySet()) {
      TreeMap<Long, double[]> student = meanOverSeeds(arm.getValue().values().stream()
          .map(Run::studentContext).toList());
      TreeMap<Long, double[]> teacher = meanOverSeeds(arm.getValue().values().stream()
          .map(Run::teacher).toList());
      if (student.isEmpty()) {
        continue;
      }
      md.append(String.format(Locale.ROOT, "| %s | %.3f / %.3f | %.3f / %.3f |%n", arm.getKey(),
          student.firstEntry().getValue()[0], teacher.firstEntry().getValue()[0],
          student.lastEntry().getValue()[0], teacher.lastEntry().getValue()[0]));
      series.add(series(arm.getKey() + " (student)", student));
      if (!constant(teacher)) { // a frozen teacher is one flat line, drawn once below
        series.add(series(arm.getKey() + " (teacher)", teacher));
      } else if (frozen == null) {
        frozen = teacher;
      }
    }
    if (frozen != null) {
      series.add(series("teacher's weights (unchanged)", frozen));
    }
    Charts.lines(e.out().resolve("context_reading.png"), e.name() + ": accuracy with the feedback"
        + " in the context, during RL", "generations", "accuracy", series, false);
    charts.add("context_reading.png");
    return md.toString();
  }

  /** Final gain (final minus base accuracy) against the arm's initial gap. */
  private static String gapGain(Experiment e, Map<String, double[]> finals,
      Map<String, Map<Long, Run>> runs, Map<String, Gap> gaps, List<String> charts,
      Map<String, Object> summary) throws IOException {
    StringBuilder md = new StringBuilder("\nGain against the initial self-teacher gap (teacher "
        + "minus student accuracy of the base model, 256 held-out questions; arms that distil "
        + "from the teacher):\n\n"
        + "| arm | teacher context | student | teacher | initial gap | final gain (mean ± 95% CI) |"
        + "\n|---|---|---|---|---|---|\n");
    List<Charts.Series> series = new ArrayList<>();
    Map<String, Object> out = new LinkedHashMap<>();
    for (var arm : runs.entrySet()) {
      Gap g = gaps.get(arm.getKey());
      if (g == null) {
        continue; // an arm without a teacher (GRPO, the label control) has no gap
      }
      double[] gains = arm.getValue().values().stream().mapToDouble(r ->
          r.curve().lastEntry().getValue() - r.curve().firstEntry().getValue()).toArray();
      double[] mc = Stats.meanCi95(gains);
      md.append(String.format(Locale.ROOT, "| %s | %s | %.3f | %.3f | %+.3f | %+.3f ± %s |%n",
          arm.getKey(), g.context(), g.student(), g.teacher(), g.gap(), mc[0], ci(mc[1])));
      series.add(new Charts.Series(arm.getKey(), new double[] {g.gap()}, new double[] {mc[0]},
          new double[] {Double.isNaN(mc[1]) ? 0 : mc[1]}));
      Map<String, Object> a = new LinkedHashMap<>();
      a.put("context", g.context());
      a.put("initial_gap", g.gap());
      a.put("final_gain", mc[0]);
      a.put("final_gain_ci95", mc[1]);
      out.put(arm.getKey(), a);
    }
    Charts.scatter(e.out().resolve("gap_gain.png"), e.name() + ": final gain against the "
        + "initial self-teacher gap", "initial gap (teacher - student accuracy)",
        "final gain in held-out accuracy", series);
    charts.add("gap_gain.png");
    summary.put("gap_gain", out);
    return md.toString();
  }

  private static boolean constant(TreeMap<Long, double[]> curve) {
    return curve.values().stream().mapToDouble(a -> a[0]).distinct().count() <= 1;
  }

  /** Mean and 95% interval over seeds at the generations every seed has. */
  static TreeMap<Long, double[]> meanOverSeeds(List<TreeMap<Long, Double>> curves) {
    TreeMap<Long, double[]> out = new TreeMap<>();
    if (curves.isEmpty()) {
      return out;
    }
    for (long g : curves.get(0).keySet()) {
      if (curves.stream().allMatch(c -> c.containsKey(g))) {
        out.put(g, Stats.meanCi95(curves.stream().mapToDouble(c -> c.get(g)).toArray()));
      }
    }
    return out;
  }

  private static Charts.Series series(String name, TreeMap<Long, double[]> curve) {
    return new Charts.Series(name, curve.keySet().stream().mapToDouble(Long::doubleValue).toArray(),
        curve.values().stream().mapToDouble(a -> a[0]).toArray(),
        curve.values().stream().mapToDouble(a -> Double.isNaN(a[1]) ? 0 : a[1]).toArray());
  }

  /** The first generation at which the curve reaches {@code target} (null: never). */
  static Long firstReaching(TreeMap<Long, Double> curve, double target) {
    for (var p : curve.entrySet()) {
      if (p.getValue() >= target - 1e-12) {
        return p.getKey();
      }
    }
    return null;
  }

  private static String ci(double half) {
    return Double.isNaN(half) ? "n/a" : String.format(Locale.ROOT, "%.3f", half);
  }
}
