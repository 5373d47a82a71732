package org.sdpo.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.sdpo.core.Trainer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code ./sdpo report --run DIR}: the table and charts of a training run, regenerated from its
 * {@code metrics.jsonl}: reward and loss per step, validation accuracy against generations.
 */
@Command(name = "report", mixinStandardHelpOptions = true,
    description = "Regenerate the table and PNG charts of a run from its metrics.jsonl.")
final class ReportCommand implements Callable<Integer> {
  @Option(names = "--run", required = true, description = "Run directory of ./sdpo train.") Path run;

  @Override
  public Integer call() throws Exception {
    System.setProperty("java.awt.headless", "true");
    Path metrics = run.resolve(Trainer.METRICS);
    if (!Files.exists(metrics)) {
      throw new IllegalArgumentException(metrics + " does not exist: not a run directory of ./sdpo train");
    }
    ObjectMapper json = new ObjectMapper();
    List<JsonNode> lines = org.sdpo.transformer.io.TextFiles.readJsonLines(json, metrics);
    if (lines.isEmpty()) {
      throw new IllegalArgumentException(metrics + " is empty");
    }
    String val = null;
    Iterator<String> names = lines.get(lines.size() - 1).fieldNames();
    while (names.hasNext()) {
      String n = names.next();
      if (n.startsWith("val_avg_at_")) {
        val = n;
      }
    }
    System.out.printf(Locale.ROOT, "%6s %12s %8s %9s %10s %10s%s%n", "step", "generations", "reward",
        "success", "loss", "grad norm", val != null ? String.format("%14s", val) : "");
    List<Double> steps = new ArrayList<>();
    List<Double> gens = new ArrayList<>();
    List<Double> reward = new ArrayList<>();
    List<Double> loss = new ArrayList<>();
    List<Double> vGens = new ArrayList<>();
    List<Double> vAcc = new ArrayList<>();
    for (JsonNode l : lines) {
      steps.add(l.path("step").asDouble());
      gens.add(l.path("generations").asDouble());
      reward.add(l.path("reward_mean").asDouble());
      loss.add(l.path("loss").asDouble(Double.NaN));
      if (val != null && l.has(val)) {
        vGens.add(l.path("generations").asDouble());
        vAcc.add(l.path(val).asDouble());
      }
      System.out.printf(Locale.ROOT, "%6d %12d %8.3f %9.3f %10.5f %10.4f%s%n", l.path("step").asInt(),
          l.path("generations").asLong(), l.path("reward_mean").asDouble(),
          l.path("success_fraction").asDouble(), l.path("loss").asDouble(Double.NaN),
          l.path("grad_norm").asDouble(Double.NaN),
          val != null && l.has(val) ? String.format(Locale.ROOT, "%14.3f", l.path(val).asDouble()) : "");
    }
    chart(run.resolve("reward.png"), "Mean reward per step", "step", "reward", steps, reward);
    chart(run.resolve("loss.png"), "Training loss", "step", "loss", steps, loss);
    if (!vAcc.isEmpty()) {
      chart(run.resolve("validation.png"), "Validation " + val.substring(4), "generations",
          val.substring(4), vGens, vAcc);
    }
    System.out.println("charts: " + run.resolve("reward.png") + ", " + run.resolve("loss.png")
        + (vAcc.isEmpty() ? "" : ", " + run.resolve("validation.png")));
    return 0;
  }

  static void chart(Path file, String title, String x, String y, List<Double> xs, List<Double> ys)
      throws java.io.IOException {
    Charts.lines(file, title, x, y, List.of(new Charts.Series(y,
        xs.stream().mapToDouble(Double::doubleValue).toArray(),
        ys.stream().mapToDouble(Double::doubleValue).toArray(), null)), false);
  }

}
