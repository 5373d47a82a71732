package org.sdpo.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import me.tongfei.progressbar.ProgressBar;
import org.sdpo.core.BaseModels;
import org.sdpo.core.TrainConfig;
import org.sdpo.core.Trainer;
import org.sdpo.tensor.Backends;
import org.sdpo.tensor.DType;
import org.sdpo.transformer.Gpt;
import org.sdpo.transformer.io.AtomicFiles;
import org.sdpo.transformer.io.Checkpoint;
import org.sdpo.transformer.tokenizer.Tokenizer;
import org.sdpo.verifiers.Environment;
import org.sdpo.verifiers.FeedbackLevel;
import org.sdpo.verifiers.Verifiers;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code ./sdpo experiment --config FILE}: every arm of an experiment for every seed (runs already
 * finished are kept, so an interrupted experiment continues where it stopped), then mean and 95%
 * confidence interval over the seeds as a table ({@code results.md}, {@code results.csv}) and a
 * chart ({@code accuracy.png}).
 */
@Command(name = "experiment", mixinStandardHelpOptions = true,
    description = "Run an experiment file (arms x seeds, or a test-time comparison) and summarise "
        + "it with means, 95%% confidence intervals, a table and a chart.")
final class ExperimentCommand implements Callable<Integer> {
  @Option(names = "--config", required = true, description = "Experiment YAML (see examples/).")
  Path config;

  @Override
  public Integer call() throws Exception {
    long t0 = System.nanoTime();
    Experiment e = Experiment.read(config);
    System.out.println("sdpo experiment " + e.name() + " (" + e.kind() + "): seeds " + e.seeds());
    System.out.println("backend: " + Backends.describe());
    Files.createDirectories(e.out());
    Path base = e.model();
    if (base == null) {
      System.out.println("base model: " + e.base().toJson());
      try (ProgressBar pb = Progress.bar("pretrain", e.base().steps())) {
        base = BaseModels.ensure(e.base(), e.cache(), 40, System.out::println, m -> {
          pb.stepTo(m.step());
          pb.setExtraMessage(String.format(Locale.ROOT, "loss %.3f", m.loss()));
        });
      }
    }
    Map<String, Object> summary = e.kind().equals("train") ? trainArms(e, base)
        : TestTimeExperiment.run(e, base, System.out);
    summary.put("config", config.toString());
    summary.put("base", base.toString());
    summary.put("seconds", Math.round((System.nanoTime() - t0) / 1e9));
    summary.put("code_version", Trainer.codeVersion());
    AtomicFiles.writeJson(e.out().resolve("summary.json"), summary);
    System.out.printf(Locale.ROOT, "time: %d s; results in %s%n", summary.get("seconds"), e.out());
    return 0;
  }

  /** Runs (or reuses) every arm x seed and aggregates the validation curves. */
  static Map<String, Object> trainArms(Experiment e, Path base) throws Exception {
    ObjectMapper json = new ObjectMapper();
    Map<String, Map<Long, TreeMap<Long, Double>>> curves = new LinkedHashMap<>();
    Map<String, Map<Long, Double>> finalPass = new LinkedHashMap<>();
    Map<String, Map<Long, Double>> secondsPerStep = new LinkedHashMap<>();
    String key = null;
    Map<Long, Double> baseAcc = new LinkedHashMap<>();
    Gpt baseModel = Checkpoint.load(base, DType.FLOAT32);
    Tokenizer baseTok = Tokenizer.load(base);
    for (var arm : e.arms().entrySet()) {
      for (long seed : e.seeds()) {
        Map<String, Object> m = new LinkedHashMap<>(e.train());
        m.putAll(arm.getValue());
        Path dir = e.out().resolve(arm.getKey()).resolve("seed_" + seed);
        m.put("model", base.toString());
        m.put("out", dir.toString());
        m.put("seed", seed);
        TrainConfig c = TrainConfig.of(m);
        key = "avg_at_" + c.integer("val_k");
        if (!baseAcc.containsKey(seed)) { // generation 0: the base model, same tasks as later
          Environment env = Verifiers.byName(c.str("env"))
              .withFeedback(FeedbackLevel.parse(c.str("feedback")));
          baseAcc.put(seed, ((Number) Trainer.validate(baseModel, baseTok, env, c, seed)
              .get(key)).doubleValue());
        }
        if (Files.exists(dir.resolve("summary.json"))) {
          System.out.println(arm.getKey() + " seed " + seed + ": finished earlier, kept (" + dir + ")");
        } else {
          try (ProgressBar pb = Progress.bar(arm.getKey() + " seed " + seed, c.integer("steps"))) {
            Trainer.run(c, false, (step, line) -> {
              pb.stepTo(step);
              pb.setExtraMessage(String.format(Locale.ROOT, "reward %.2f",
                  ((Number) line.getOrDefault("reward_mean", 0.0)).doubleValue()));
            });
          }
        }
        TreeMap<Long, Double> curve = new TreeMap<>();
        curve.put(0L, baseAcc.get(seed));
        double pass = Double.NaN;
        double sec = 0;
        int steps = 0;
        for (String l : Files.readAllLines(dir.resolve(Trainer.METRICS), StandardCharsets.UTF_8)) {
          if (l.isBlank()) {
            continue;
          }
          JsonNode j = json.readTree(l);
          sec += j.path("step_seconds").asDouble(0);
          steps++;
          if (j.has("val_" + key)) {
            curve.put(j.path("generations").asLong(), j.path("val_" + key).asDouble());
            pass = j.path("val_" + key.replace("avg", "pass")).asDouble();
          }
        }
        curves.computeIfAbsent(arm.getKey(), k -> new LinkedHashMap<>()).put(seed, curve);
        finalPass.computeIfAbsent(arm.getKey(), k -> new LinkedHashMap<>()).put(seed, pass);
        secondsPerStep.computeIfAbsent(arm.getKey(), k -> new LinkedHashMap<>())
            .put(seed, steps == 0 ? Double.NaN : sec / steps);
      }
    }
    return aggregate(e, key, curves, finalPass, secondsPerStep);
  }

  private static Map<String, Object> aggregate(Experiment e, String key,
      Map<String, Map<Long, TreeMap<Long, Double>>> curves, Map<String, Map<Long, Double>> finalPass,
      Map<String, Map<Long, Double>> secondsPerStep) throws Exception {
    String label = key.replace("_at_", "@");
    StringBuilder csv = new StringBuilder("arm,generations,mean,ci95,seeds\n");
    StringBuilder md = new StringBuilder("| arm | final " + label + " (mean ± 95% CI) | final pass@"
        + key.substring(key.lastIndexOf('_') + 1) + " | per seed | s/step |\n|---|---|---|---|---|\n");
    List<Charts.Series> series = new ArrayList<>();
    Map<String, Object> arms = new LinkedHashMap<>();
    for (var arm : curves.entrySet()) {
      Map<Long, TreeMap<Long, Double>> bySeed = arm.getValue();
      // generations every seed validated at
      TreeMap<Long, Double> first = bySeed.values().iterator().next();
      List<Double> xs = new ArrayList<>();
      List<double[]> ys = new ArrayList<>();
      for (long g : first.keySet()) {
        if (bySeed.values().stream().allMatch(c -> c.containsKey(g))) {
          double[] v = bySeed.values().stream().mapToDouble(c -> c.get(g)).toArray();
          double[] mc = Stats.meanCi95(v);
          xs.add((double) g);
          ys.add(mc);
          csv.append(String.format(Locale.ROOT, "%s,%d,%.6f,%.6f,%d%n", arm.getKey(), g, mc[0],
              mc[1], v.length));
        }
      }
      series.add(new Charts.Series(arm.getKey(), xs.stream().mapToDouble(Double::doubleValue)
          .toArray(), ys.stream().mapToDouble(a -> a[0]).toArray(),
          ys.stream().mapToDouble(a -> Double.isNaN(a[1]) ? 0 : a[1]).toArray()));
      double[] fin = bySeed.values().stream().mapToDouble(c -> c.lastEntry().getValue()).toArray();
      double[] mc = Stats.meanCi95(fin);
      double[] pass = Stats.meanCi95(finalPass.get(arm.getKey()).values().stream()
          .mapToDouble(Double::doubleValue).toArray());
      double sps = Stats.meanCi95(secondsPerStep.get(arm.getKey()).values().stream()
          .mapToDouble(Double::doubleValue).toArray())[0];
      StringBuilder per = new StringBuilder();
      for (double f : fin) {
        per.append(per.length() == 0 ? "" : ", ").append(String.format(Locale.ROOT, "%.3f", f));
      }
      md.append(String.format(Locale.ROOT, "| %s | %.3f ± %s | %.3f | %s | %.2f |%n", arm.getKey(),
          mc[0], Double.isNaN(mc[1]) ? "n/a" : String.format(Locale.ROOT, "%.3f", mc[1]), pass[0],
          per, sps));
      Map<String, Object> a = new LinkedHashMap<>();
      a.put("final_" + key, mc[0]);
      a.put("final_" + key + "_ci95", mc[1]);
      a.put("final_per_seed", fin);
      a.put("seconds_per_step", sps);
      arms.put(arm.getKey(), a);
    }
    AtomicFiles.writeString(e.out().resolve("results.csv"), csv);
    AtomicFiles.writeString(e.out().resolve("results.md"), md);
    Charts.lines(e.out().resolve("accuracy.png"), e.name() + ": held-out " + label
        + " (mean ± 95% CI over " + e.seeds().size() + " seeds)", "generations", label, series,
        false);
    System.out.println();
    System.out.print(md);
    System.out.println("chart: " + e.out().resolve("accuracy.png"));
    Map<String, Object> s = new LinkedHashMap<>();
    s.put("metric", key);
    s.put("arms", arms);
    return s;
  }
}
