package org.sdpo.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import me.tongfei.progressbar.ProgressBar;
import org.sdpo.core.BaseModels;
import org.sdpo.core.Explain;
import org.sdpo.core.SelfTeacherGap;
import org.sdpo.core.TrainConfig;
import org.sdpo.core.Trainer;
import org.sdpo.tensor.DType;
import org.sdpo.transformer.CausalLm;
import org.sdpo.transformer.io.AtomicFiles;
import org.sdpo.transformer.io.Checkpoint;
import org.sdpo.transformer.tokenizer.Tokenizer;
import org.sdpo.verifiers.Environment;

/**
 * The pipeline of {@code ./sdpo demo}: a base model pre-trained until it reads its context
 * (cached), its self-teacher gap on held-out questions, then the arms (GRPO, SDPO, the blend)
 * from that base with the same seed, questions and budget of generations, compared on held-out
 * questions.
 *
 * <p>Run directory: {@code config.json}, {@code gap.json}, one {@code ./sdpo train} run per arm
 * ({@code grpo/}, {@code sdpo/}, ...), {@code curves.csv} and {@code curves.jsonl} (accuracy against
 * generations), {@code accuracy.png}, {@code explain.html} (the SDPO step whose teacher marks the
 * most tokens) and {@code summary.json}.
 */
final class Demo {
  private Demo() {}

  /**
   * What the demo runs.
   *
   * @param arms arm name to the options it sets over {@code train} ({@code algorithm} and the rest)
   * @param train the {@code ./sdpo train} options every arm shares (model and out are set per arm)
   * @param gapQuestions held-out questions of the gap measurement
   */
  record Settings(Path out, Path cache, BaseModels.Spec base, int gapQuestions,
      Map<String, Map<String, Object>> arms, Map<String, Object> train) {}

  /** The demo's base model: the {@code addition} recipe. */
  static BaseModels.Spec defaultBase(long seed) {
    return BaseModels.recipe("addition", seed);
  }

  /** Accuracy on held-out questions after a number of generations. */
  record Point(long generations, double accuracy, double pass) {}

  static Map<String, Object> run(Settings s, PrintStream log) throws IOException {
    long t0 = System.nanoTime();
    Files.createDirectories(s.out());
    int phases = 2 + s.arms().size();
    Map<String, Object> timings = new LinkedHashMap<>();
    Map<String, Object> config = new LinkedHashMap<>();
    config.put("base", s.base().toJson());
    config.put("gap_questions", s.gapQuestions());
    config.put("train", s.train());
    config.put("arms", s.arms());
    config.put("code_version", Trainer.codeVersion());
    AtomicFiles.writeJson(s.out().resolve("config.json"), config);

    // 1. the base model: pre-trained until it reads its context (or reused from the cache)
    long p0 = System.nanoTime();
    TrainConfig shared = TrainConfig.of(arm(s, Path.of("base"), s.arms().keySet().iterator().next()));
    Environment env = shared.environment();
    Path base;
    String[] probe = {""};
    try (ProgressBar pb = Progress.bar("1/" + phases + " pretrain", s.base().steps())) {
      base = BaseModels.ensure(s.base(), s.cache(), shared.integer("max_new_tokens"), log::println,
          m -> {
            if (!m.probe().isEmpty()) {
              probe[0] = String.format(Locale.ROOT, ", probe: student %.2f, teacher %.2f",
                  num(m.probe().get("student")), num(m.probe().values().stream()
                      .reduce((a, b) -> b).orElse(Double.NaN)));
            }
            pb.stepTo(m.step());
            pb.setExtraMessage(String.format(Locale.ROOT, "loss %.3f%s", m.loss(), probe[0]));
          });
    }
    timings.put("pretrain_s", seconds(p0));
    Path probeChart = Charts.probe(base);

    // 2. the self-teacher gap of the base model on held-out questions
    long a0 = System.nanoTime();
    CausalLm model = Checkpoint.load(base, DType.FLOAT32);
    Tokenizer tok = Tokenizer.load(base);
    log.println("2/" + phases + " self-teacher gap: " + s.gapQuestions() + " held-out questions, "
        + "the student without context, the teacher with each feedback level and with a "
        + "demonstration ...");
    SelfTeacherGap.Result gap = SelfTeacherGap.measure(model, tok, env,
        new SelfTeacherGap.Settings(s.gapQuestions(), 1, shared.integer("difficulty"),
            shared.integer("max_new_tokens"), shared.dbl("temperature"), shared.integer("seed"),
            shared.templates(), env.levels(), true, true, shared.integer("threads")));
    Map<String, Object> gapJson = new LinkedHashMap<>(gap.toMap());
    gapJson.put("base", base.toString());
    AtomicFiles.writeJson(s.out().resolve("gap.json"), gapJson);
    log.println();
    log.print(gap.table());
    log.println();
    timings.put("gap_s", seconds(a0));
    org.sdpo.tensor.Workspace.ofThisThread().releaseFree(); // the measurement's shapes do not return

    // 3. the arms from the same base, seed, questions and budget
    Map<String, Object> val0 = Trainer.validate(model, tok, env, shared, shared.integer("seed"));
    String key = "avg_at_" + shared.integer("val_k");
    String passKey = "pass_at_" + shared.integer("val_k");
    Map<String, List<Point>> curves = new LinkedHashMap<>();
    int phase = 3;
    for (String name : s.arms().keySet()) {
      long r0 = System.nanoTime();
      TrainConfig c = TrainConfig.of(arm(s, base, name));
      List<Point> curve = new ArrayList<>();
      curve.add(new Point(0, num(val0.get(key)), num(val0.get(passKey))));
      try (ProgressBar pb = Progress.bar(phase++ + "/" + phases + " " + name,
          c.integer("steps"))) {
        Trainer.run(c, false, (step, line) -> {
          pb.stepTo(step);
          pb.setExtraMessage(String.format(Locale.ROOT, "reward %.2f%s",
              num(line.get("reward_mean")), line.containsKey("val_" + key) ? String.format(
                  Locale.ROOT, ", held-out %.3f", num(line.get("val_" + key))) : ""));
          if (line.containsKey("val_" + key)) {
            curve.add(new Point(((Number) line.get("generations")).longValue(),
                num(line.get("val_" + key)), num(line.get("val_" + passKey))));
          }
        });
      }
      curves.put(name, curve);
      timings.put(name + "_s", seconds(r0));
    }

    // results: table, CSV/JSONL, chart, the viewer page, summary
    Map<String, Object> summary = new LinkedHashMap<>();
    summary.put("base", base.toString());
    summary.put("gap", gap.toMap());
    summary.putAll(compare(curves, key, log));
    writeCurves(s.out(), curves, key);
    List<Charts.Series> series = new ArrayList<>();
    curves.forEach((name, pts) -> series.add(new Charts.Series(name,
        pts.stream().mapToDouble(Point::generations).toArray(),
        pts.stream().mapToDouble(Point::accuracy).toArray(), null)));
    Path chart = s.out().resolve("accuracy.png");
    Charts.lines(chart, "Held-out accuracy (" + key.replace("_at_", "@") + "), "
        + shared.str("env") + ", " + shared.str("feedback") + " feedback", "generations",
        key.replace("_at_", "@"), series, false);
    Path html = s.out().resolve("explain.html");
    String sdpoArm = s.arms().containsKey("sdpo") ? "sdpo" : s.arms().keySet().iterator().next();
    Path step = Explain.mostMarkedStep(s.out().resolve(sdpoArm));
    Explain.write(step, html);
    summary.put("viewer_step", step.getFileName().toString());
    timings.put("total_s", seconds(t0));
    summary.put("timings", timings);
    summary.put("peak_resident_bytes", org.sdpo.tensor.MemoryStats.peakResidentBytes());
    summary.put("code_version", Trainer.codeVersion());
    AtomicFiles.writeJson(s.out().resolve("summary.json"), summary);
    StringBuilder t = new StringBuilder();
    timings.forEach((k, v) -> t.append(t.length() == 0 ? "" : ", ")
        .append(k.replace("_s", "")).append(String.format(Locale.ROOT, " %.0f s", num(v))));
    log.println();
    log.println("time: " + t + "; peak resident memory "
        + org.sdpo.tensor.MemoryStats.describe(org.sdpo.tensor.MemoryStats.peakResidentBytes()));
    log.println("chart: " + Charts.shown(chart) + (probeChart == null ? ""
        : ", pre-training probe: " + Charts.shown(probeChart)));
    log.println("credit-assignment viewer: " + html + " (" + sdpoArm + ", "
        + step.getFileName() + ")");
    log.println("run directory: " + s.out() + " (config.json, gap.json, "
        + String.join("/, ", s.arms().keySet()) + "/, curves.csv, curves.jsonl, accuracy.png, "
        + "explain.html, summary.json)");
    return summary;
  }

  /** The train options of one arm. */
  static Map<String, Object> arm(Settings s, Path base, String name) {
    Map<String, Object> m = new LinkedHashMap<>(s.train());
    m.putAll(s.arms().get(name));
    m.put("model", base.toString());
    m.put("out", s.out().resolve(name).toString());
    return m;
  }

  /**
   * Prints the table and returns the comparison for the summary: each arm's final accuracy, and
   * how many generations the others needed to reach GRPO's final accuracy.
   */
  static Map<String, Object> compare(Map<String, List<Point>> curves, String key, PrintStream log) {
    String label = key.replace("_at_", "@");
    log.println();
    StringBuilder head = new StringBuilder(String.format(Locale.ROOT, "%12s", "generations"));
    curves.keySet().forEach(n -> head.append(String.format(Locale.ROOT, " %14s", n + " " + label)));
    log.println(head);
    int rows = curves.values().stream().mapToInt(List::size).max().orElse(0);
    for (int i = 0; i < rows; i++) {
      StringBuilder row = new StringBuilder();
      long gens = -1;
      for (List<Point> c : curves.values()) {
        if (i < c.size()) {
          gens = c.get(i).generations();
          row.append(String.format(Locale.ROOT, " %14.3f", c.get(i).accuracy()));
        } else {
          row.append(String.format(Locale.ROOT, " %14s", ""));
        }
      }
      log.println(String.format(Locale.ROOT, "%12d", gens) + row);
    }
    Map<String, Object> m = new LinkedHashMap<>();
    curves.forEach((n, c) -> m.put(n + "_final_accuracy", c.get(c.size() - 1).accuracy()));
    List<Point> g = curves.get("grpo");
    log.println();
    if (g == null) {
      return m;
    }
    double target = g.get(g.size() - 1).accuracy();
    long gFinal = g.get(g.size() - 1).generations();
    Long grpoNeeds = firstReaching(g, target);
    m.put("grpo_generations_to_final", grpoNeeds);
    if (grpoNeeds != null && grpoNeeds == 0) { // the base model was already as good
      log.printf(Locale.ROOT, "GRPO did not improve on the base model (%.3f at 0 generations, %.3f "
          + "at %d).%n", g.get(0).accuracy(), target, gFinal);
    }
    for (Map.Entry<String, List<Point>> e : curves.entrySet()) {
      if (e.getKey().equals("grpo")) {
        continue;
      }
      Long needs = firstReaching(e.getValue(), target);
      m.put(e.getKey() + "_generations_to_grpo_final", needs);
      if (grpoNeeds != null && grpoNeeds == 0) {
        continue;
      }
      List<Point> c = e.getValue();
      if (needs == null) {
        log.printf(Locale.ROOT, "%s did not reach GRPO's final accuracy %.3f within %d generations"
            + " (it ended at %.3f).%n", e.getKey(), target, c.get(c.size() - 1).generations(),
            c.get(c.size() - 1).accuracy());
      } else {
        log.printf(Locale.ROOT, "%s reached GRPO's final accuracy %.3f after %d generations, GRPO "
            + "after %d%s; %s ended at %.3f, GRPO at %.3f.%n", e.getKey(), target, needs, grpoNeeds,
            needs > 0 && grpoNeeds != null && grpoNeeds > 0 ? String.format(Locale.ROOT,
                " (%.1fx fewer)", (double) grpoNeeds / needs) : "", e.getKey(),
            c.get(c.size() - 1).accuracy(), target);
      }
    }
    return m;
  }

  /** The generations after which the curve first reaches {@code target} (null: never). */
  static Long firstReaching(List<Point> curve, double target) {
    for (Point p : curve) {
      if (p.accuracy() >= target) {
        return p.generations();
      }
    }
    return null;
  }

  private static void writeCurves(Path out, Map<String, List<Point>> curves, String key)
      throws IOException {
    StringBuilder csv = new StringBuilder("arm,generations," + key + ",pass\n");
    List<String> jsonl = new ArrayList<>();
    ObjectMapper json = new ObjectMapper();
    for (Map.Entry<String, List<Point>> e : curves.entrySet()) {
      for (Point p : e.getValue()) {
        csv.append(String.format(Locale.ROOT, "%s,%d,%.6f,%.6f%n", e.getKey(), p.generations(),
            p.accuracy(), p.pass()));
        Map<String, Object> l = new LinkedHashMap<>();
        l.put("arm", e.getKey());
        l.put("generations", p.generations());
        l.put(key, p.accuracy());
        l.put("pass", p.pass());
        jsonl.add(json.writeValueAsString(l));
      }
    }
    AtomicFiles.writeString(out.resolve("curves.csv"), csv);
    AtomicFiles.writeString(out.resolve("curves.jsonl"), String.join("\n", jsonl) + "\n");
  }

  static double num(Object o) {
    return o instanceof Number n ? n.doubleValue() : Double.NaN;
  }

  private static double seconds(long since) {
    return Math.round((System.nanoTime() - since) / 1e8) / 10.0;
  }
}
