package org.sdpo.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** ./sdpo base, ./sdpo gap and the pre-training probe on the command line. */
class GapCommandsTest {
  @TempDir Path dir;

  @Test
  void baseBuildsARecipeOnceThenGapMeasuresIt() throws Exception {
    Path cache = dir.resolve("cache");
    GradCheckCommandTest.Result r = GradCheckCommandTest.run("base", "--recipe", "addition-micro",
        "--cache", cache.toString(), "--set", "steps=12", "--set", "probe_every=6");
    assertThat(r.exit()).as(r.err()).isZero();
    Matcher m = Pattern.compile("base model: (\\S+base-addition-[0-9a-f]{12})\\n").matcher(r.out());
    assertThat(m.find()).as(r.out()).isTrue();
    Path base = Path.of(m.group(1));
    assertThat(base.resolve("base.json")).exists();
    assertThat(base.resolve("probe.png")).exists();
    assertThat(r.out()).contains("\"steps\" : 12", "probe chart:");
    GradCheckCommandTest.Result again = GradCheckCommandTest.run("base", "--recipe",
        "addition-micro", "--cache", cache.toString(), "--set", "steps=12", "--set",
        "probe_every=6");
    assertThat(again.out()).contains("reusing " + base);

    Path out = dir.resolve("gap.json");
    GradCheckCommandTest.Result g = GradCheckCommandTest.run("gap", "--model", base.toString(),
        "--questions", "8", "--samples", "2", "--out", out.toString());
    assertThat(g.exit()).as(g.err()).isZero();
    // the environment and templates come from the base model's base.json
    assertThat(g.out()).contains("on addition", "templates compact", "student", "teacher, full "
        + "feedback", "teacher, partial feedback", "teacher, unusable feedback",
        "teacher, demonstration", "wrong tokens");
    JsonNode j = new ObjectMapper().readTree(out.toFile());
    assertThat(j.path("student").path("n").asInt()).isEqualTo(16);
    assertThat(j.path("teacher").has("full")).isTrue();

    GradCheckCommandTest.Result bad = GradCheckCommandTest.run("gap", "--model", base.toString(),
        "--feedback", "summary");
    assertThat(bad.exit()).isEqualTo(2);
    assertThat(bad.err()).contains("addition: feedback level 'summary' is not offered");
    GradCheckCommandTest.Result badSet = GradCheckCommandTest.run("base", "--recipe",
        "addition-micro", "--cache", cache.toString(), "--set", "n_layers=2");
    assertThat(badSet.exit()).isEqualTo(2);
    assertThat(badSet.err()).contains("unknown key 'n_layers'");
  }

  @Test
  void pretrainLogsTheProbe() throws Exception {
    Path data = dir.resolve("docs.jsonl");
    Files.writeString(data, "{\"prompt\": \"0001+0002=\", \"completion\": \"30000\"}\n".repeat(20));
    Path run = dir.resolve("run");
    GradCheckCommandTest.Result r = GradCheckCommandTest.run("pretrain", "--data", data.toString(),
        "--out", run.toString(), "--layout", "documents", "--steps", "4", "--n-layer", "1",
        "--n-embd", "16", "--n-head", "2", "--block-size", "32", "--batch-size", "4", "--warmup",
        "1", "--probe-env", "addition", "--probe-every", "2", "--probe-templates", "compact");
    assertThat(r.exit()).as(r.err()).isZero();
    assertThat(r.out()).contains("step 2 probe: {student=", "teacher_full=");
    assertThat(Files.readAllLines(run.resolve("metrics.jsonl")).get(1))
        .contains("\"probe_teacher_partial\"");
  }
}
