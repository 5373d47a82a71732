package org.sdpo.transformer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

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
    // resumed with another learning rate it would not be the run it continues
    Pretrainer.Config otherLr = new Pretrainer.Config(data, b, 1, 2, 16, 16, 4, 30, 1e-3, 3e-4, 2,
        0.1, 1.0, 2, 7, 3);
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> Pretrainer.run(otherLr, tok, true,
        null)).hasMessage(b + ": --resume continues a run with the settings it was started with, "
        + "and these differ from its train_config.json: lr 0.003 -> 0.001 (put them back, or start "
        + "again with --overwrite)");
    Pretrainer.Metrics resumed = Pretrainer.run(config(data, b, 30), tok, true, null);
    assertThat(resumed.loss()).isEqualTo(full.loss());
    // a run with no step left (interrupted after its last checkpoint, before its caller finished)
    // returns its last step as recorded, and trains nothing more
    Pretrainer.Metrics again = Pretrainer.run(config(data, b, 30), tok, true, null);
    assertThat(again).isEqualTo(resumed);
    CausalLm ga = Checkpoint.load(a, DType.FLOAT32);
    CausalLm gb = Checkpoint.load(b, DType.FLOAT32);
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

  private Pretrainer.Config documentsConfig(Path data, Path out, int steps) {
    return new Pretrainer.Config(data, out, 1, 2, 32, 16, 16, steps, 2e-2, 2e-3, 5, 0.0, 1.0, 1, 7,
        5, Pretrainer.Layout.DOCUMENTS);
  }

  @Test
  void documentsAreReadWithTheirLossMask() throws Exception {
    Path data = dir.resolve("docs.jsonl");
    Files.writeString(data, "{\"prompt\": \"ab=\", \"completion\": \"c\"}\n\n{\"text\": \"xyz\"}\n");
    CharTokenizer tok = CharTokenizer.ascii();
    List<Pretrainer.Document> docs = Pretrainer.documents(data, tok, 16);
    assertThat(docs).hasSize(2);
    assertThat(docs.get(0).ids()).containsExactly(tok.encode("ab=c")[0], tok.encode("b")[0],
        tok.encode("=")[0], tok.encode("c")[0], tok.eos());
    assertThat(docs.get(0).lossFrom()).isEqualTo(3); // the completion and the end of text
    assertThat(docs.get(1).lossFrom()).isEqualTo(1); // every token after the first
    // the stream layout joins the same documents
    assertThat(Pretrainer.tokenize(data, tok)).hasSize(9);
    assertThatThrownBy(() -> Pretrainer.documents(data, tok, 4))
        .hasMessageContaining("line 1: a document of 5 tokens")
        .hasMessageContaining("block_size 4");
    Files.writeString(data, "{\"prompt\": \"ab\"}\n");
    assertThatThrownBy(() -> Pretrainer.documents(data, tok, 16))
        .hasMessageContaining("line 1: expected an object with a string \"text\", or strings "
            + "\"prompt\" and \"completion\"");
  }

  /** Prompt/completion documents from position 0: a one-layer model learns the map "c=" -> "m". */
  @Test
  void documentsLayoutLearnsAPromptToCompletionMapAndResumesBitForBit() throws Exception {
    Path data = dir.resolve("docs.jsonl");
    StringBuilder sb = new StringBuilder();
    String keys = "abcdefgh";
    for (int i = 0; i < 64; i++) {
      char k = keys.charAt(i % keys.length());
      sb.append("{\"prompt\": \"").append(k).append("=\", \"completion\": \"")
          .append((char) (k + 10)).append("\"}\n");
    }
    Files.writeString(data, sb);
    CharTokenizer tok = CharTokenizer.ascii();
    Path a = dir.resolve("da");
    Pretrainer.Metrics full = Pretrainer.run(documentsConfig(data, a, 120), tok, false, null);
    assertThat(full.loss()).isLessThan(0.5); // from ln(99) = 4.6: the map and the end of text
    CausalLm g = Checkpoint.load(a, DType.FLOAT32);
    int[] prompt = tok.encode("c=");
    float[] logits = g.forward(prompt, 1, 2).value().toFloatArray();
    int best = 0;
    for (int v = 0; v < tok.vocabSize(); v++) {
      best = logits[tok.vocabSize() + v] > logits[tok.vocabSize() + best] ? v : best;
    }
    assertThat(tok.decode(new int[] {best}, true)).isEqualTo("m");

    Path b = dir.resolve("db");
    try {
      Pretrainer.run(documentsConfig(data, b, 120), tok, false, m -> {
        if (m.step() == 13) {
          throw new StopHere();
        }
      });
    } catch (StopHere expected) {
      // killed after step 13; the last checkpoint is step 10
    }
    Pretrainer.Metrics resumed = Pretrainer.run(documentsConfig(data, b, 120), tok, true, null);
    assertThat(resumed.loss()).isEqualTo(full.loss());
  }

  @Test
  void aProbeIsLoggedAndMayStopTheRunWithACheckpoint() throws Exception {
    Path data = dir.resolve("corpus.txt");
    Files.writeString(data, "abcabcabd abcabcabd ".repeat(40));
    CharTokenizer tok = CharTokenizer.ascii();
    List<Integer> measured = new java.util.ArrayList<>();
    Pretrainer.Probe probe = new Pretrainer.Probe() {
      @Override
      public int every() {
        return 4;
      }

      @Override
      public java.util.Map<String, Object> measure(CausalLm model, int step) {
        measured.add(step);
        return java.util.Map.of("step_seen", (double) step);
      }

      @Override
      public boolean stop(java.util.Map<String, Object> m) {
        return (Double) m.get("step_seen") >= 12;
      }
    };
    Path out = dir.resolve("p");
    Pretrainer.Metrics last = Pretrainer.run(config(data, out, 30), tok, false, null, probe);
    assertThat(measured).containsExactly(4, 8, 12);
    assertThat(last.stopped()).isTrue();
    assertThat(last.step()).isEqualTo(12);
    List<String> lines = Files.readAllLines(out.resolve(Pretrainer.METRICS));
    assertThat(lines).hasSize(12);
    assertThat(lines.get(3)).contains("\"probe_step_seen\":4.0");
    assertThat(lines.get(11)).contains("\"stopped_by_probe\":true");
    assertThat(Pretrainer.readStep(out.resolve(Pretrainer.STATE))).isEqualTo(12);
    // resuming a run its probe stopped does not train past the chosen checkpoint
    measured.clear();
    Pretrainer.Metrics again = Pretrainer.run(config(data, out, 30), tok, true, null, probe);
    assertThat(again.stopped()).isTrue();
    assertThat(again.step()).isEqualTo(12);
    assertThat(measured).containsExactly(12);
  }

  static final class StopHere extends RuntimeException {}
}
