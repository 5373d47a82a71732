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
import org.sdpo.core.Reprompt;
import org.sdpo.core.SelfTeacherAdvantage;
import org.sdpo.core.TrainConfig;
import org.sdpo.core.Trainer;
import org.sdpo.tensor.DType;
import org.sdpo.transformer.Gpt;
import org.sdpo.transformer.io.AtomicFiles;
import org.sdpo.transformer.io.Checkpoint;
import org.sdpo.transformer.tokenizer.Tokenizer;
import org.sdpo.verifiers.Environment;
import org.sdpo.verifiers.FeedbackLevel;
import org.sdpo.verifiers.Split;
import org.sdpo.verifiers.Verifiers;

/**
 * The pipeline of {@code ./sdpo demo}: a base model pre-trained on teaching material (cached),
 * its self-teacher advantage, then GRPO and SDPO from that base with the same seed and the same
 * budget of generations, compared on held-out questions.
 *
 * <p>Run directory: {@code config.json}, {@code self_teacher.json}, {@code grpo/} and {@code sdpo/}
 * (each a {@code ./sdpo train} run), {@code curves.csv} and {@code curves.jsonl} (accuracy against
 * generations), {@code accuracy.png}, {@code explain.html} (one SDPO step in the viewer) and
 * {@code summary.json}.
 */
final class Demo {
  /** The two arms, in the order they run. */
  static final List<String> ALGORITHMS = List.of("grpo", "sdpo");

  private Demo() {}

  /**
   * What the demo runs.
   *
   * @param train the {@code ./sdpo train} options both arms share (model, out and algorithm are set
   *     per arm)
   */
  record Settings(Path out, Path cache, BaseModels.Spec base, int evalTasks, int evalK,
      Map<String, Object> train) {}

  /**
   * The demo's base model: a 4-layer character GPT (n_embd 128, context 384) pre-trained on 3000
   * difficulty-1 code tasks (each as 3 plain documents, one with feedback, one with a
   * demonstration).
   */
  static BaseModels.Spec defaultBase(long seed) {
    return new BaseModels.Spec("code", 1, 3000, 3, 1.0, 4, 4, 128, 384, 8, 600, 2e-3, 2e-4, 30,
        seed);
  }

  /** Accuracy on held-out questions after a number of generations. */
  record Point(long generations, double accuracy, double pass) {}

  static Map<String, Object> run(Settings s, PrintStream log) throws IOException {
    long t0 = System.nanoTime();
    Files.createDirectories(s.out());
    Map<String, Object> timings = new LinkedHashMap<>();
    Map<String, Object> config = new LinkedHashMap<>();
    config.put("base", s.base().toJson());
    config.put("eval_tasks", s.evalTasks());
    config.put("eval_k", s.evalK());
    config.put("train", s.train());
    config.put("code_version", Trainer.codeVersion());
    AtomicFiles.writeJson(s.out().resolve("config.json"), config);

    // 1. the base model, pre-trained on teaching material (or reused from the cache)
    long p0 = System.nanoTime();
    Path base;
    try (ProgressBar pb = Progress.bar("1/4 pretrain", s.base().steps())) {
      base = BaseModels.ensure(s.base(), s.cache(), log::println, m -> {
        pb.stepTo(m.step());
        pb.setExtraMessage(String.format(Locale.ROOT, "loss %.3f", m.loss()));
      });
    }
    timings.put("pretrain_s", seconds(p0));

    // 2. the self-teacher advantage of the base model on held-out questions
    long a0 = System.nanoTime();
    Gpt model = Checkpoint.load(base, DType.FLOAT32);
    Tokenizer tok = Tokenizer.load(base);
    TrainConfig shared = TrainConfig.of(arm(s, base, "sdpo"));
    Environment env = Verifiers.byName(shared.str("env"))
        .withFeedback(FeedbackLevel.parse(shared.str("feedback")));
    log.println("2/4 self-teacher advantage: " + s.evalTasks() + " held-out questions x "
        + s.evalK() + " samples, without and with a teacher context ...");
    Map<String, Double> adv = SelfTeacherAdvantage.measure(model, tok, env,
        env.tasks(Split.TEST, s.evalTasks(), shared.integer("seed") * 7L + 3,
            shared.integer("difficulty")),
        s.evalK(), shared.integer("max_new_tokens"), shared.integer("seed"),
        Reprompt.Templates.reference(), shared.integer("threads"));
    AtomicFiles.writeJson(s.out().resolve("self_teacher.json"), adv);
    log.printf(Locale.ROOT, "    accuracy %.3f without context, %s with its own feedback "
        + "(%d failed attempts), %.3f with a correct demonstration%n", adv.get("accuracy"),
        adv.get("feedback_cases") == 0 ? "n/a" : String.format(Locale.ROOT, "%.3f",
            adv.get("accuracy_with_feedback")), adv.get("feedback_cases").intValue(),
        adv.get("accuracy_with_demonstration"));
    timings.put("self_teacher_s", seconds(a0));

    // 3. GRPO and SDPO from the same base, seed and budget
    Map<String, Object> val0 = Trainer.validate(model, tok, env, shared, shared.integer("seed"));
    String key = "avg_at_" + shared.integer("val_k");
    String passKey = "pass_at_" + shared.integer("val_k");
    Map<String, List<Point>> curves = new LinkedHashMap<>();
    for (String algo : ALGORITHMS) {
      long r0 = System.nanoTime();
      TrainConfig c = TrainConfig.of(arm(s, base, algo));
      List<Point> curve = new ArrayList<>();
      curve.add(new Point(0, num(val0.get(key)), num(val0.get(passKey))));
      try (ProgressBar pb = Progress.bar((algo.equals("grpo") ? "3/4 " : "4/4 ") + algo,
          c.integer("steps"))) {
        Trainer.run(c, false, (step, line) -> {
          pb.stepTo(step);
          pb.setExtraMessage(String.format(Locale.ROOT, "reward %.2f",
              num(line.get("reward_mean"))));
          if (line.containsKey("val_" + key)) {
            curve.add(new Point(((Number) line.get("generations")).longValue(),
                num(line.get("val_" + key)), num(line.get("val_" + passKey))));
          }
        });
      }
      curves.put(algo, curve);
      timings.put(algo + "_s", seconds(r0));
    }

    // results: table, CSV/JSONL, chart, the viewer page, summary
    Map<String, Object> summary = new LinkedHashMap<>();
    summary.put("base", base.toString());
    summary.put("self_teacher", adv);
    summary.putAll(compare(curves, key, log));
    writeCurves(s.out(), curves, key);
    List<Charts.Series> series = new ArrayList<>();
    curves.forEach((algo, pts) -> series.add(new Charts.Series(algo.toUpperCase(Locale.ROOT),
        pts.stream().mapToDouble(Point::generations).toArray(),
        pts.stream().mapToDouble(Point::accuracy).toArray(), null)));
    Path chart = s.out().resolve("accuracy.png");
    Charts.lines(chart, "Held-out accuracy (" + key.replace("_at_", "@") + "), "
        + shared.str("env") + " tasks", "generations", key.replace("_at_", "@"), series, false);
    Path html = s.out().resolve("explain.html");
    Explain.write(Explain.stepFile(s.out().resolve("sdpo"), null), html);
    timings.put("total_s", seconds(t0));
    summary.put("timings", timings);
    summary.put("code_version", Trainer.codeVersion());
    AtomicFiles.writeJson(s.out().resolve("summary.json"), summary);
    log.printf(Locale.ROOT, "%ntime: pretrain %.0f s, self-teacher %.0f s, GRPO %.0f s, SDPO %.0f s,"
        + " total %.0f s%n", timings.get("pretrain_s"), timings.get("self_teacher_s"),
        timings.get("grpo_s"), timings.get("sdpo_s"), timings.get("total_s"));
    log.println("chart: " + chart);
    log.println("credit-assignment viewer: " + html);
    log.println("run directory: " + s.out() + " (config.json, self_teacher.json, grpo/, sdpo/, "
        + "curves.csv, curves.jsonl, accuracy.png, explain.html, summary.json)");
    return summary;
  }

  /** The train options of one arm. */
  static Map<String, Object> arm(Settings s, Path base, String algorithm) {
    Map<String, Object> m = new LinkedHashMap<>(s.train());
    m.put("model", base.toString());
    m.put("out", s.out().resolve(algorithm).toString());
    m.put("algorithm", algorithm);
    return m;
  }

  /** Prints the table and returns the comparison for the summary. */
  static Map<String, Object> compare(Map<String, List<Point>> curves, String key, PrintStream log) {
    List<Point> g = curves.get("grpo");
    List<Point> d = curves.get("sdpo");
    log.println();
    log.printf(Locale.ROOT, "%12s %12s %12s%n", "generations", "GRPO " + key.replace("_at_", "@"),
        "SDPO " + key.replace("_at_", "@"));
    for (int i = 0; i < Math.max(g.size(), d.size()); i++) {
      Point a = i < g.size() ? g.get(i) : null;
      Point b = i < d.size() ? d.get(i) : null;
      log.printf(Locale.ROOT, "%12d %12s %12s%n", (a != null ? a : b).generations(),
          a == null ? "" : String.format(Locale.ROOT, "%.3f", a.accuracy()),
          b == null ? "" : String.format(Locale.ROOT, "%.3f", b.accuracy()));
    }
    double target = g.get(g.size() - 1).accuracy();
    long gFinal = g.get(g.size() - 1).generations();
    Long sdpoNeeds = firstReaching(d, target);
    Long grpoNeeds = firstReaching(g, target);
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("grpo_final_accuracy", target);
    m.put("sdpo_final_accuracy", d.get(d.size() - 1).accuracy());
    m.put("grpo_generations_to_final", grpoNeeds);
    m.put("sdpo_generations_to_grpo_final", sdpoNeeds);
    log.println();
    if (grpoNeeds != null && grpoNeeds == 0) { // the base model was already as good
      log.printf(Locale.ROOT, "GRPO did not improve on the base model (%.3f at 0 generations, %.3f "
          + "at %d); SDPO ended at %.3f.%n", g.get(0).accuracy(), target, gFinal,
          d.get(d.size() - 1).accuracy());
    } else if (sdpoNeeds == null) {
      log.printf(Locale.ROOT, "SDPO did not reach GRPO's final accuracy %.3f within %d generations.%n",
          target, gFinal);
    } else {
      log.printf(Locale.ROOT, "GRPO's final accuracy %.3f: GRPO first reached it after %d "
          + "generations, SDPO after %d%s.%n", target, grpoNeeds, sdpoNeeds,
          sdpoNeeds > 0 && grpoNeeds > 0 ? String.format(Locale.ROOT, " (%.1fx fewer)",
              (double) grpoNeeds / sdpoNeeds) : "");
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
    StringBuilder csv = new StringBuilder("algorithm,generations," + key + ",pass\n");
    List<String> jsonl = new ArrayList<>();
    ObjectMapper json = new ObjectMapper();
    curves.forEach((algo, pts) -> {
      for (Point p : pts) {
        csv.append(String.format(Locale.ROOT, "%s,%d,%.6f,%.6f%n", algo, p.generations(),
            p.accuracy(), p.pass()));
        Map<String, Object> l = new LinkedHashMap<>();
        l.put("algorithm", algo);
        l.put("generations", p.generations());
        l.put(key, p.accuracy());
        l.put("pass", p.pass());
        try {
          jsonl.add(json.writeValueAsString(l));
        } catch (IOException e) {
          throw new IllegalStateException(e);
        }
      }
    });
    AtomicFiles.writeString(out.resolve("curves.csv"), csv);
    AtomicFiles.writeString(out.resolve("curves.jsonl"), String.join("\n", jsonl) + "\n");
  }

  private static double num(Object o) {
    return o instanceof Number n ? n.doubleValue() : Double.NaN;
  }

  private static double seconds(long since) {
    return Math.round((System.nanoTime() - since) / 1e8) / 10.0;
  }
}
