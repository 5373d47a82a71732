package org.sdpo.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.awt.image.BufferedImage;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The whole demo pipeline on the micro configuration: every artifact exists and is well-formed. */
class DemoCommandTest {
  @TempDir Path dir;

  @Test
  void microDemoProducesEveryArtifact() throws Exception {
    Path run = dir.resolve("run");
    Path cache = dir.resolve("cache");
    GradCheckCommandTest.Result r = GradCheckCommandTest.run("demo", "--micro", "--out",
        run.toString(), "--cache", cache.toString());
    assertThat(r.exit()).as(r.err()).isZero();
    assertThat(r.out()).contains("self-teacher gap", "teacher, full feedback",
        "teacher, partial feedback", "teacher, unusable feedback", "teacher, demonstration",
        "wrong tokens", "generations", "grpo avg@2", "sdpo avg@2", "blend avg@2",
        "run directory: " + run);
    ObjectMapper json = new ObjectMapper();

    // the cached base model: pre-training loss went down
    Path base;
    try (Stream<Path> s = Files.list(cache)) {
      base = s.filter(p -> p.getFileName().toString().startsWith("base-addition-")).findFirst()
          .orElseThrow();
    }
    assertThat(base.getFileName().toString()).doesNotEndWith(".partial");
    List<Double> loss = new ArrayList<>();
    for (JsonNode l : lines(base.resolve("metrics.jsonl"))) {
      loss.add(l.path("loss").asDouble());
    }
    assertThat(loss).hasSize(20).allMatch(Double::isFinite);
    double first = (loss.get(0) + loss.get(1) + loss.get(2)) / 3;
    double last = (loss.get(17) + loss.get(18) + loss.get(19)) / 3;
    assertThat(last).isLessThan(first - 0.3);
    // the gap probe ran every 10 steps and wrote its numbers into the metrics
    assertThat(lines(base.resolve("metrics.jsonl")).get(9).has("probe_teacher_full")).isTrue();

    // every arm: finite metrics, the same generations budget, checkpoints, summaries
    for (String algo : List.of("grpo", "sdpo", "blend")) {
      List<JsonNode> m = lines(run.resolve(algo).resolve("metrics.jsonl"));
      assertThat(m).hasSize(2);
      for (JsonNode l : m) {
        assertThat(l.path("loss").isNumber()).as(algo + " loss").isTrue();
        assertThat(Double.isFinite(l.path("loss").asDouble())).isTrue();
        assertThat(Double.isFinite(l.path("reward_mean").asDouble())).isTrue();
      }
      assertThat(m.get(1).path("generations").asLong()).isEqualTo(16);
      assertThat(run.resolve(algo).resolve("checkpoint/model.safetensors")).exists();
      assertThat(json.readTree(run.resolve(algo).resolve("summary.json").toFile())
          .path("algorithm").asText()).isEqualTo(algo.equals("blend") ? "blend_advantage" : algo);
      // whether the teacher still reads its context, at each validation
      assertThat(m.get(1).has("val_teacher_accuracy")).isTrue();
      assertThat(m.get(1).has("val_student_context_accuracy")).isTrue();
    }

    // curves: base point plus one per validation, for every arm, all finite
    List<JsonNode> curves = lines(run.resolve("curves.jsonl"));
    assertThat(curves).hasSize(9);
    assertThat(curves).allMatch(c -> c.path("avg_at_2").asDouble() >= 0
        && c.path("avg_at_2").asDouble() <= 1);
    assertThat(Files.readAllLines(run.resolve("curves.csv"))).hasSize(10)
        .first().isEqualTo("arm,generations,avg_at_2,pass");

    BufferedImage png = ImageIO.read(run.resolve("accuracy.png").toFile());
    assertThat(png).isNotNull();
    assertThat(png.getWidth()).isEqualTo(800);
    assertThat(png.getHeight()).isEqualTo(500);

    // the viewer page: one coloured span per response token of the chosen SDPO step
    JsonNode summary = json.readTree(run.resolve("summary.json").toFile());
    JsonNode step = json.readTree(run.resolve("sdpo/rollouts")
        .resolve(summary.path("viewer_step").asText()).toFile());
    int tokens = 0;
    for (JsonNode ro : step.path("rollouts")) {
      tokens += ro.path("tokens").size();
    }
    String page = Files.readString(run.resolve("explain.html"));
    Matcher spans = Pattern.compile("<span class=\"tok\" data-advantage=").matcher(page);
    int n = 0;
    while (spans.find()) {
      n++;
    }
    assertThat(n).isEqualTo(tokens).isPositive();

    assertThat(summary.path("gap").path("student").path("accuracy").isNumber()).isTrue();
    assertThat(summary.path("gap").path("teacher").path("full").path("n").asInt()).isPositive();
    assertThat(json.readTree(run.resolve("gap.json").toFile()).path("advantage").has("full"))
        .isTrue();
    assertThat(summary.path("timings").path("total_s").asDouble()).isPositive();
    assertThat(summary.path("code_version").asText()).isNotEmpty();
    assertThat(json.readTree(run.resolve("config.json").toFile()).path("base").path("steps")
        .asInt()).isEqualTo(20);

    // a second run reuses the cached base model
    GradCheckCommandTest.Result again = GradCheckCommandTest.run("demo", "--micro", "--steps", "1",
        "--out", dir.resolve("run2").toString(), "--cache", cache.toString());
    assertThat(again.exit()).as(again.err()).isZero();
    assertThat(again.out()).contains("reusing " + base);
  }

  private static List<JsonNode> lines(Path f) throws Exception {
    ObjectMapper json = new ObjectMapper();
    List<JsonNode> out = new ArrayList<>();
    for (String l : Files.readAllLines(f, StandardCharsets.UTF_8)) {
      if (!l.isBlank()) {
        out.add(json.readTree(l));
      }
    }
    return out;
  }
}
