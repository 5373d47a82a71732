package org.sdpo.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sdpo.cli.tutorial.T6SdpoStep;
import org.sdpo.tensor.DType;
import org.sdpo.transformer.io.Checkpoint;
import org.sdpo.transformer.tokenizer.Tokenizer;

/** Every example of docs/tutorial.md runs and shows what the text says it shows. */
class TutorialTest {
  @TempDir Path dir;

  @Test
  void autogradMatchesTheHandDerivedGradients() {
    GradCheckCommandTest.Result r = GradCheckCommandTest.run("tutorial", "1");
    assertThat(r.exit()).as(r.err()).isZero();
    assertThat(r.out()).contains("dz/dx = 7.0", "without zeroGrad: 14.0");
    // the printed autograd and by-hand values agree to the printed digits
    for (String line : r.out().split("\n")) {
      if (line.startsWith("dy/d")) {
        String[] p = line.replace(",", "").split(" ");
        assertThat(p[2]).isEqualTo(p[5]);
      }
    }
    assertThat(r.out()).containsPattern("step 200: loss 0\\.0000\\d+  w 2\\.0000  c -1\\.0000");
  }

  @Test
  void gradCheckPassesTheOpAndCatchesTheBrokenBackward() {
    GradCheckCommandTest.Result r = GradCheckCommandTest.run("tutorial", "2");
    assertThat(r.exit()).as(r.err()).isZero();
    assertThat(r.out()).contains("as expected", "broken_softplus", "analytic", "numeric");
  }

  @Test
  void verifierExamplesShowEveryKindOfFeedback() {
    GradCheckCommandTest.Result r = GradCheckCommandTest.run("tutorial", "5");
    assertThat(r.exit()).as(r.err()).isZero();
    assertThat(r.out()).contains("the reference: reward 1.0", "syntax_error", "wrong_answer",
        "runtime_error", "timeout", "format_error", "expected");
  }

  @Test
  void trainSampleAndOneSdpoStep() throws Exception {
    GradCheckCommandTest.Result t = GradCheckCommandTest.run("tutorial", "3", "--dir",
        dir.toString(), "--steps", "40");
    assertThat(t.exit()).as(t.err()).isZero();
    assertThat(t.out()).contains("step    1  loss 4.", "step   40  loss ");
    Path gpt = dir.resolve("gpt");
    assertThat(gpt.resolve("model.safetensors")).exists();

    GradCheckCommandTest.Result s = GradCheckCommandTest.run("tutorial", "4", "--dir", dir.toString());
    assertThat(s.exit()).as(s.err()).isZero();
    assertThat(s.out()).contains("== greedy", "temperature 0.5, top-p 0.9", "== reference");

    ByteArrayOutputStream buf = new ByteArrayOutputStream();
    Map<String, Double> r = T6SdpoStep.run(new PrintStream(buf, true, StandardCharsets.UTF_8),
        Checkpoint.load(gpt, DType.FLOAT32), Tokenizer.load(gpt), 3, 12);
    String out = buf.toString(StandardCharsets.UTF_8);
    assertThat(out).contains("(1) the question", "(3) teacher context", "(4) token", "(5) the update",
        "(6) student moved");
    assertThat(r.get("loss")).isFinite().isGreaterThan(0);
    // EMA from equal weights: the teacher moves exactly rate times as far as the student
    assertThat(r.get("ratio")).isCloseTo(0.05, within(1e-4));

    GradCheckCommandTest.Result missing = GradCheckCommandTest.run("tutorial", "4", "--dir",
        dir.resolve("nothing").toString());
    assertThat(missing.exit()).isEqualTo(2);
    assertThat(missing.err()).contains("run './sdpo tutorial 3' first");
    assertThat(Files.exists(dir.resolve("corpus.jsonl"))).isTrue();
  }
}
