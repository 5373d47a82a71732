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
import org.sdpo.core.Explain;

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
    assertThat(r.out()).contains("self-teacher advantage", "generations", "GRPO avg@2",
        "SDPO avg@2", "run directory: " + run);
    ObjectMapper json = new ObjectMapper();

    // the cached base model: pre-training loss went down
    Path base;
    try (Stream<Path> s = Files.list(cache)) {
      base = s.filter(p -> p.getFileName().toString().startsWith("base-code-")).findFirst()
          .orElseThrow();
    }
    assertThat(base.getFileName().toString()).doesNotEndWith(".partial");
    List<Double> loss = new ArrayList<>();
    for (JsonNode l : lines(base.resolve("metrics.jsonl"))) {
      loss.add(l.path("loss").asDouble());
    }
    assertThat(loss).hasSize(30).allMatch(Double::isFinite);
    double first = (loss.get(0) + loss.get(1) + loss.get(2)) / 3;
    double last = (loss.get(27) + loss.get(28) + loss.get(29)) / 3;
    assertThat(last).isLessThan(first - 0.3);

    // both arms: finite metrics, the same generations budget, checkpoints, summaries
    for (String algo : List.of("grpo", "sdpo")) {
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
          .path("algorithm").asText()).isEqualTo(algo);
    }

    // curves: base point plus one per validation, for both algorithms, all finite
    List<JsonNode> curves = lines(run.resolve("curves.jsonl"));
    assertThat(curves).hasSize(6);
    assertThat(curves).allMatch(c -> c.path("avg_at_2").asDouble() >= 0
        && c.path("avg_at_2").asDouble() <= 1);
    assertThat(Files.readAllLines(run.resolve("curves.csv"))).hasSize(7)
        .first().isEqualTo("algorithm,generations,avg_at_2,pass");

    BufferedImage png = ImageIO.read(run.resolve("accuracy.png").toFile());
    assertThat(png).isNotNull();
    assertThat(png.getWidth()).isEqualTo(800);
    assertThat(png.getHeight()).isEqualTo(500);

    // the viewer page: one coloured span per response token of the last SDPO step
    JsonNode step = json.readTree(Explain.stepFile(run.resolve("sdpo"), null).toFile());
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

    JsonNode summary = json.readTree(run.resolve("summary.json").toFile());
    assertThat(summary.path("self_teacher").path("accuracy").isNumber()).isTrue();
    assertThat(summary.path("timings").path("total_s").asDouble()).isPositive();
    assertThat(summary.path("code_version").asText()).isNotEmpty();
    assertThat(json.readTree(run.resolve("config.json").toFile()).path("base").path("steps")
        .asInt()).isEqualTo(30);

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
