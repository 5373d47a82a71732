package org.sdpo.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import me.tongfei.progressbar.ProgressBar;
import org.sdpo.core.TrainConfig;
import org.sdpo.core.Trainer;
import org.sdpo.tensor.Backends;
import org.sdpo.tensor.MemoryStats;
import org.sdpo.transformer.io.Checkpoint;
import org.sdpo.transformer.io.TextFiles;
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
      RunDirectory.checkResumable(out, List.of("checkpoint", Trainer.STATE));
    } else {
      RunDirectory.checkNew(out, RunDirectory.TRAIN_RUN, overwrite, "a run",
          "--resume continues it, --overwrite starts it again");
    }
    if (c.str("model").startsWith(RECIPE)) { // model: recipe:NAME, the cached base model
      String name = c.str("model").substring(RECIPE.length());
      System.out.println("base model: recipe " + name);
      Map<String, Object> m = new LinkedHashMap<>(c.resolved());
      m.put("model", BaseCommand.build(org.sdpo.core.BaseModels.recipe(name, 1),
          Path.of("runs/cache")).toString());
      c = TrainConfig.of(m);
    }
    Checkpoint.readConfig(Path.of(c.str("model"))); // readable, before any output
    if (resume) {
      Trainer.checkSameSettings(c);
      if (RunDirectory.finished(out, Trainer.STATE, c.integer("steps"), "steps above %d continue it")) {
        return 0;
      }
    }
    System.out.println("sdpo train: seed " + c.str("seed") + (resume ? " (resuming)" : ""));
    System.out.println("backend: " + Backends.describe());
    System.out.println("config (resolved): " + new ObjectMapper()
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
    List<JsonNode> lines = TextFiles.readJsonLines(new ObjectMapper(), out.resolve(Trainer.METRICS));
    List<Path> charts = ReportCommand.charts(out, lines);
    describe(summary, lines, out, charts).forEach(System.out::println);
    return 0;
  }

  /**
   * The end of a run in a few lines: how long, the reward at its start and end, the validation
   * accuracy, the memory, and where everything is (the full summary is summary.json).
   */
  static List<String> describe(Map<String, Object> summary, List<JsonNode> lines, Path out,
      List<Path> charts) {
    List<String> s = new ArrayList<>();
    double seconds = lines.stream().mapToDouble(l -> l.path("step_seconds").asDouble(0)).sum();
    int n = lines.size();
    s.add(String.format(Locale.ROOT, "done: %s steps, %s generations (%s, seed %s); the steps took "
            + "%s, %.1f s each (validation apart); peak resident memory %s", summary.get("steps"),
        summary.get("generations"), summary.get("algorithm"), summary.get("seed"),
        Progress.duration(seconds), n == 0 ? 0 : seconds / n,
        MemoryStats.describe(((Number) summary.get("peak_resident_bytes")).longValue())));
    if (summary.containsKey("device_peak_in_use_bytes")) {
      s.add("device memory: peak " + MemoryStats.describe(((Number) summary.get(
          "device_peak_in_use_bytes")).longValue()) + " in use, " + MemoryStats
          .describe(((Number) summary.get("device_peak_reserved_bytes")).longValue())
          + " held from the driver");
    }
    if (n > 0) {
      int k = Math.max(1, Math.min(5, n / 2)); // the first and last k steps (one step: itself)
      s.add(String.format(Locale.ROOT, "reward: %.3f in the first %s, %.3f in the last %s "
              + "(success %.3f -> %.3f)", mean(lines.subList(0, k), "reward_mean"), steps(k),
          mean(lines.subList(n - k, n), "reward_mean"), steps(k),
          mean(lines.subList(0, k), "success_fraction"),
          mean(lines.subList(n - k, n), "success_fraction")));
      String val = ReportCommand.validationKey(lines);
      if (val != null) {
        List<String> points = new ArrayList<>();
        for (JsonNode l : lines) {
          if (l.has(val)) {
            points.add(String.format(Locale.ROOT, "%.3f (step %d)", l.path(val).asDouble(),
                l.path("step").asInt()));
          }
        }
        s.add("validation " + val.substring(4) + ": " + (points.size() <= 4 ? String.join(", ", points)
            : points.get(0) + ", " + points.get(1) + ", ..., " + points.get(points.size() - 1)));
      }
    }
    s.add("charts: " + String.join(", ", charts.stream().map(Path::toString).toList()));
    s.add("run directory: " + out + " (config.json, metrics.jsonl, summary.json, checkpoint/); "
        + "./sdpo explain --run " + out + " shows each token's credit");
    return s;
  }

  private static String steps(int k) {
    return k == 1 ? "step" : k + " steps";
  }

  private static double mean(List<JsonNode> lines,
      String key) {
    return lines.stream().mapToDouble(l -> l.path(key).asDouble(Double.NaN)).average()
        .orElse(Double.NaN);
  }
}
