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
    Path metrics = run.resolve(Trainer.METRICS);
    if (!Files.exists(metrics)) {
      throw new IllegalArgumentException(metrics + " does not exist: not a run directory of ./sdpo train");
    }
    ObjectMapper json = new ObjectMapper();
    List<JsonNode> lines = org.sdpo.transformer.io.TextFiles.readJsonLines(json, metrics);
    if (lines.isEmpty()) {
      throw new IllegalArgumentException(metrics + " is empty");
    }
    String val = validationKey(lines);
    System.out.printf(Locale.ROOT, "%6s %12s %8s %9s %10s %10s%s%n", "step", "generations", "reward",
        "success", "loss", "grad norm", val != null ? String.format("%14s", val) : "");
    for (JsonNode l : lines) {
      System.out.printf(Locale.ROOT, "%6d %12d %8.3f %9.3f %10.5f %10.4f%s%n", l.path("step").asInt(),
          l.path("generations").asLong(), l.path("reward_mean").asDouble(),
          l.path("success_fraction").asDouble(), l.path("loss").asDouble(Double.NaN),
          l.path("grad_norm").asDouble(Double.NaN),
          val != null && l.has(val) ? String.format(Locale.ROOT, "%14.3f", l.path(val).asDouble()) : "");
    }
    System.out.println("charts: " + String.join(", ", charts(run, lines).stream()
        .map(Path::toString).toList()));
    return 0;
  }

  /**
   * The validation accuracy's key of a run's metrics ({@code val_avg_at_K}, over every difficulty;
   * not {@code val_avg_at_K_dN}, one difficulty's, which once was taken when it came last), or
   * null.
   */
  static String validationKey(List<JsonNode> lines) {
    for (Iterator<String> names = lines.get(lines.size() - 1).fieldNames(); names.hasNext(); ) {
      String n = names.next();
      if (n.matches("val_avg_at_[0-9]+")) {
        return n;
      }
    }
    return null;
  }

  /**
   * Writes a run's charts (reward and loss per step, validation accuracy against generations when
   * there is one) into {@code run} and returns their paths.
   */
  static List<Path> charts(Path run, List<JsonNode> lines) throws java.io.IOException {
    String val = validationKey(lines);
    List<Double> steps = new ArrayList<>();
    List<Double> reward = new ArrayList<>();
    List<Double> loss = new ArrayList<>();
    List<Double> vGens = new ArrayList<>();
    List<Double> vAcc = new ArrayList<>();
    for (JsonNode l : lines) {
      steps.add(l.path("step").asDouble());
      reward.add(l.path("reward_mean").asDouble());
      loss.add(l.path("loss").asDouble(Double.NaN));
      if (val != null && l.has(val)) {
        vGens.add(l.path("generations").asDouble());
        vAcc.add(l.path(val).asDouble());
      }
    }
    List<Path> written = new ArrayList<>();
    written.add(run.resolve("reward.png"));
    chart(written.get(0), "Mean reward per step", "step", "reward", steps, reward);
    written.add(run.resolve("loss.png"));
    chart(written.get(1), "Training loss", "step", "loss", steps, loss);
    if (!vAcc.isEmpty()) {
      written.add(run.resolve("validation.png"));
      chart(written.get(2), "Validation " + val.substring(4), "generations", val.substring(4),
          vGens, vAcc);
    }
    return written;
  }

  static void chart(Path file, String title, String x, String y, List<Double> xs, List<Double> ys)
      throws java.io.IOException {
    Charts.lines(file, title, x, y, List.of(new Charts.Series(y,
        xs.stream().mapToDouble(Double::doubleValue).toArray(),
        ys.stream().mapToDouble(Double::doubleValue).toArray(), null)), false);
  }

}
