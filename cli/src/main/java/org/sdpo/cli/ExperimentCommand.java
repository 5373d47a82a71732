package org.sdpo.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import me.tongfei.progressbar.ProgressBar;
import org.sdpo.core.BaseModels;
import org.sdpo.core.TrainConfig;
import org.sdpo.core.Trainer;
import org.sdpo.tensor.Backends;
import org.sdpo.tensor.DType;
import org.sdpo.transformer.CausalLm;
import org.sdpo.transformer.io.AtomicFiles;
import org.sdpo.transformer.io.Checkpoint;
import org.sdpo.transformer.tokenizer.Tokenizer;
import org.sdpo.verifiers.Environment;
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
        base = BaseModels.ensure(e.base(), e.cache(),
            Verifiers.byName(e.base().env()).responseBudget(), System.out::println, m -> {
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
    Map<String, Map<Long, ExperimentResults.Run>> runs = new LinkedHashMap<>();
    String key = null;
    Map<Long, Double> baseAcc = new LinkedHashMap<>();
    CausalLm baseModel = Checkpoint.load(base, DType.FLOAT32);
    Tokenizer baseTok = null; // as the arms' trainer formats prompts (their chat-template options)
    Map<String, TrainConfig> armConfig = new LinkedHashMap<>();
    for (var arm : e.arms().entrySet()) {
      for (long seed : e.seeds()) {
        Map<String, Object> m = new LinkedHashMap<>(e.train());
        m.putAll(arm.getValue());
        Path dir = e.out().resolve(arm.getKey()).resolve("seed_" + seed);
        m.put("model", base.toString());
        m.put("out", dir.toString());
        m.put("seed", seed);
        TrainConfig c = TrainConfig.of(m);
        armConfig.putIfAbsent(arm.getKey(), c);
        if (baseTok == null) {
          baseTok = c.promptTokenizer(base);
        }
        key = "avg_at_" + c.integer("val_k");
        if (!baseAcc.containsKey(seed)) { // generation 0: the base model, same tasks as later
          Environment env = c.environment();
          baseAcc.put(seed, ((Number) Trainer.validate(baseModel, baseTok, env, c, seed)
              .get(key)).doubleValue());
        }
        if (Files.exists(dir.resolve("summary.json"))) {
          List<String> changed = Trainer.differences(dir.resolve("config.json"), c,
              java.util.Set.of("out", "model", "threads"));
          if (!changed.isEmpty()) { // a finished run of other settings must not join the table
            throw new IllegalArgumentException(dir + " finished with other settings than this "
                + "experiment's (" + String.join(", ", changed) + "): delete it to train it "
                + "again, or put the settings back");
          }
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
        ExperimentResults.Run run = ExperimentResults.Run.read(dir.resolve(Trainer.METRICS), key,
            baseAcc.get(seed));
        if (run.finalByDifficulty().isEmpty() && c.integer("difficulty") == 0
            && Files.exists(dir.resolve("checkpoint").resolve(Checkpoint.WEIGHTS))) {
          // a run logged before validation broke accuracy down by difficulty: its final checkpoint
          run = run.withFinalByDifficulty(Checkpoint.load(dir.resolve("checkpoint"), DType.FLOAT32),
              baseTok, c, seed);
        }
        runs.computeIfAbsent(arm.getKey(), k -> new LinkedHashMap<>()).put(seed, run);
      }
    }
    Map<String, ExperimentResults.Gap> gaps = null;
    if (e.gapGain()) {
      gaps = new LinkedHashMap<>();
      for (var arm : armConfig.entrySet()) {
        String algorithm = arm.getValue().str("algorithm");
        if (!algorithm.equals("grpo") && !algorithm.equals("sft_revealed")) { // uses the teacher
          gaps.put(arm.getKey(), ExperimentResults.initialGap(baseModel, baseTok, arm.getValue()));
        }
      }
    }
    return ExperimentResults.aggregate(e, key, runs, gaps, System.out);
  }
}
