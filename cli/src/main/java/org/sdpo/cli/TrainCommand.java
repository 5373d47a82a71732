package org.sdpo.cli;

import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import me.tongfei.progressbar.ProgressBar;
import org.sdpo.core.TrainConfig;
import org.sdpo.core.Trainer;
import org.sdpo.tensor.Backends;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code ./sdpo train --config FILE}: SDPO, GRPO or a blend on a built-in environment. */
@Command(name = "train", mixinStandardHelpOptions = true,
    description = "Train with SDPO (or GRPO, or a blend) from a YAML/JSON config.")
final class TrainCommand implements Callable<Integer> {
  /** {@code model: recipe:NAME} trains from the named base-model recipe (cached in runs/cache). */
  static final String RECIPE = "recipe:";

  @Option(names = "--config", description = "YAML or JSON file of options (see --list-options); "
      + "model: recipe:NAME uses a cached base-model recipe.")
  Path config;

  @Option(names = "--resume", description = "Continue the run in the config's out directory.")
  boolean resume;

  @Option(names = "--overwrite", description = "Start again in an out directory that already "
      + "holds a run (its metrics, checkpoints and rollouts are replaced).")
  boolean overwrite;

  @Option(names = "--list-options", description = "Print every option with its default, as a table.")
  boolean list;

  @Override
  public Integer call() throws Exception {
    if (list) {
      System.out.println("| option | default | meaning |");
      System.out.println("|---|---|---|");
      TrainConfig.OPTIONS.forEach((k, v) -> System.out.println("| `" + k + "` | `"
          + String.valueOf(v[0]).replace("\n", "\\n") + "` | " + v[1] + " |"));
      return 0;
    }
    if (config == null) {
      throw new IllegalArgumentException("--config FILE is required (or --list-options)");
    }
    if (resume && overwrite) {
      throw new IllegalArgumentException("--resume and --overwrite exclude each other");
    }
    TrainConfig c = TrainConfig.read(config);
    Path out = Path.of(c.str("out"));
    if (resume) {
      RunDirectory.checkResumable(out, java.util.List.of("checkpoint", Trainer.STATE));
    } else {
      RunDirectory.checkNew(out, RunDirectory.TRAIN_RUN, overwrite, "a run",
          "--resume continues it, --overwrite starts it again");
    }
    if (c.str("model").startsWith(RECIPE)) { // model: recipe:NAME, the cached base model
      String name = c.str("model").substring(RECIPE.length());
      System.out.println("base model: recipe " + name);
      java.util.Map<String, Object> m = new java.util.LinkedHashMap<>(c.resolved());
      m.put("model", BaseCommand.build(org.sdpo.core.BaseModels.recipe(name, 1),
          Path.of("runs/cache")).toString());
      c = TrainConfig.of(m);
    }
    org.sdpo.transformer.io.Checkpoint.readConfig(Path.of(c.str("model"))); // readable, before any output
    System.out.println("sdpo train: seed " + c.str("seed") + (resume ? " (resuming)" : ""));
    System.out.println("backend: " + Backends.describe());
    System.out.println("config (resolved): " + new com.fasterxml.jackson.databind.ObjectMapper()
        .writeValueAsString(c.resolved()));
    Map<String, Object> summary;
    TrainConfig run = c;
    try (ProgressBar pb = Progress.bar("train", c.integer("steps"))) {
      summary = Trainer.run(run, resume, (step, line) -> {
        pb.stepTo(step);
        pb.setExtraMessage(String.format(Locale.ROOT, "reward %.2f loss %.4f",
            ((Number) line.getOrDefault("reward_mean", 0.0)).doubleValue(),
            ((Number) line.getOrDefault("loss", Double.NaN)).doubleValue()));
      });
    }
    System.out.println("summary: " + new com.fasterxml.jackson.databind.ObjectMapper()
        .writeValueAsString(summary));
    System.out.println("run directory: " + c.str("out") + " (config.json, metrics.jsonl, "
        + "checkpoint/, summary.json)");
    return 0;
  }
}
