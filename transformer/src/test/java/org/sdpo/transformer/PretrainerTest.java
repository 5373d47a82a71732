package org.sdpo.transformer;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sdpo.tensor.DType;
import org.sdpo.transformer.io.Checkpoint;
import org.sdpo.transformer.tokenizer.CharTokenizer;
import org.sdpo.transformer.train.Pretrainer;

class PretrainerTest {
  @TempDir Path dir;

  private Pretrainer.Config config(Path data, Path out, int steps) {
    return new Pretrainer.Config(data, out, 1, 2, 16, 16, 4, steps, 3e-3, 3e-4, 2, 0.1, 1.0, 2, 7,
        3);
  }

  @Test
  void learnsACharacterCorpusAndResumesBitForBit() throws Exception {
    Path data = dir.resolve("corpus.txt");
    Files.writeString(data, "abcabcabd abcabcabd ".repeat(40));
    CharTokenizer tok = CharTokenizer.ascii();

    Path a = dir.resolve("a");
    Pretrainer.Metrics full = Pretrainer.run(config(data, a, 30), tok, false, null);
    List<String> metrics = Files.readAllLines(a.resolve(Pretrainer.METRICS));
    assertThat(metrics).hasSize(30);
    double first = new com.fasterxml.jackson.databind.ObjectMapper().readTree(metrics.get(0))
        .get("loss").asDouble();
    assertThat(first).isGreaterThan(3.5);
    assertThat(full.loss()).isLessThan(first - 1.0); // from ln(100) = 4.6 towards the corpus entropy

    Path b = dir.resolve("b");
    try {
      Pretrainer.run(config(data, b, 30), tok, false, m -> {
        if (m.step() == 11) {
          throw new StopHere(); // interrupted after step 11; the last checkpoint is step 9
        }
      });
      throw new AssertionError("the run should have stopped");
    } catch (StopHere expected) {
      // as if the process had been killed
    }
    Pretrainer.Metrics resumed = Pretrainer.run(config(data, b, 30), tok, true, null);
    assertThat(resumed.loss()).isEqualTo(full.loss());
    Gpt ga = Checkpoint.load(a, DType.FLOAT32);
    Gpt gb = Checkpoint.load(b, DType.FLOAT32);
    ga.namedParameters().forEach((n, v) -> assertThat(gb.namedParameters().get(n).value()
        .toFloatArray()).as(n).containsExactly(v.value().toFloatArray()));
    List<String> ma = Files.readAllLines(a.resolve(Pretrainer.METRICS));
    List<String> mb = Files.readAllLines(b.resolve(Pretrainer.METRICS));
    assertThat(mb).hasSize(30);
    for (int i = 0; i < 30; i++) { // same steps and losses (times differ)
      assertThat(mb.get(i).replaceAll(",\"tokens_per_s.*", ""))
          .isEqualTo(ma.get(i).replaceAll(",\"tokens_per_s.*", ""));
    }
  }

  static final class StopHere extends RuntimeException {}
}
