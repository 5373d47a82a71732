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
            + "{\"step\":2,\"generations\":16,\"reward_mean\":0.5,\"success_fraction\":0.5,\"loss\":0.4,\"grad_norm\":0.9,\"val_avg_at_4\":0.375}\n");
    GradCheckCommandTest.Result r = GradCheckCommandTest.run("report", "--run", run.toString());
    assertThat(r.exit()).as(r.err()).isZero();
    assertThat(r.out()).contains("val_avg_at_4", "0.375", "16");
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
}
