package org.sdpo.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ReportCommandTest {
  @TempDir Path dir;

  @Test
  void regeneratesTheTableAndValidPngCharts() throws Exception {
    Path run = dir.resolve("run");
    Files.createDirectories(run);
    Files.writeString(run.resolve("metrics.jsonl"),
        "{\"step\":1,\"generations\":8,\"reward_mean\":0.25,\"success_fraction\":0.25,\"loss\":0.5,\"grad_norm\":1.0}\n"
            + "{\"step\":2,\"generations\":16,\"reward_mean\":0.5,\"success_fraction\":0.5,\"loss\":0.4,\"grad_norm\":0.9,\"val_avg_at_4\":0.375,\"val_avg_at_4_d1\":0.875}\n");
    GradCheckCommandTest.Result r = GradCheckCommandTest.run("report", "--run", run.toString());
    assertThat(r.exit()).as(r.err()).isZero();
    assertThat(r.out()).contains("val_avg_at_4", "0.375", "16")
        .as("all difficulties, not the last one's key").doesNotContain("_d1", "0.875");
    for (String f : new String[] {"reward.png", "loss.png", "validation.png"}) {
      BufferedImage img = ImageIO.read(run.resolve(f).toFile());
      assertThat(img).as(f).isNotNull();
      assertThat(img.getWidth()).isEqualTo(800);
      assertThat(img.getHeight()).isEqualTo(500);
    }
    GradCheckCommandTest.Result bad = GradCheckCommandTest.run("report", "--run", dir.toString());
    assertThat(bad.exit()).isEqualTo(2);
    assertThat(bad.err()).contains("metrics.jsonl does not exist");

    // a run still writing (its last line cut short) reports; a broken line inside is named
    Path m = run.resolve("metrics.jsonl");
    Files.writeString(m, Files.readString(m) + "{\"step\":3,\"gen");
    assertThat(GradCheckCommandTest.run("report", "--run", run.toString()).exit()).isZero();
    Files.writeString(m, Files.readString(m) + "\n");
    GradCheckCommandTest.Result broken = GradCheckCommandTest.run("report", "--run",
        run.toString());
    assertThat(broken.exit()).isEqualTo(2);
    assertThat(broken.err().strip()).startsWith("sdpo report: error: " + m
        + ", line 3: not valid JSON: ").doesNotContain("\n");
  }

  /** What ./sdpo train prints at the end: a few lines for people; summary.json has the rest. */
  @Test
  void trainEndsWithAReadableSummary() throws Exception {
    var json = new com.fasterxml.jackson.databind.ObjectMapper();
    java.util.List<com.fasterxml.jackson.databind.JsonNode> lines = new java.util.ArrayList<>();
    for (int s = 1; s <= 10; s++) {
      lines.add(json.readTree("{\"step\":" + s + ",\"reward_mean\":" + s / 10.0
          + ",\"success_fraction\":" + s / 20.0 + ",\"step_seconds\":2.5"
          + (s % 5 == 0 ? ",\"val_avg_at_4\":" + s / 40.0 + ",\"val_avg_at_4_d1\":1.0" : "") + "}"));
    }
    java.util.Map<String, Object> summary = new java.util.LinkedHashMap<>();
    summary.put("steps", 10);
    summary.put("generations", 320);
    summary.put("seed", 7);
    summary.put("algorithm", "sdpo");
    summary.put("peak_resident_bytes", 1_500_000_000L);
    Path out = dir.resolve("run");
    assertThat(TrainCommand.describe(summary, lines, out, java.util.List.of(out.resolve("reward.png"))))
        .containsExactly(
            "done: 10 steps, 320 generations (sdpo, seed 7); the steps took 25.0 s, 2.5 s each "
                + "(validation apart); peak resident memory 1.50 GB",
            "reward: 0.300 in the first 5 steps, 0.800 in the last 5 steps (success 0.150 -> 0.400)",
            "validation avg_at_4: 0.125 (step 5), 0.250 (step 10)",
            "charts: " + out.resolve("reward.png"),
            "run directory: " + out + " (config.json, metrics.jsonl, summary.json, checkpoint/); "
                + "./sdpo explain --run " + out + " shows each token's credit");
    assertThat(Progress.duration(192.4)).isEqualTo("3 min 12 s");
    assertThat(Progress.duration(7500)).isEqualTo("2 h 05 min");
  }
}
