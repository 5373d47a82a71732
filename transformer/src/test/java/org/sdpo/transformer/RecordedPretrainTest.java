package org.sdpo.transformer;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sdpo.tensor.Backend;
import org.sdpo.tensor.Backends;
import org.sdpo.tensor.DType;
import org.sdpo.tensor.cuda.CudaBackend;
import org.sdpo.tensor.cuda.FakeDevice;
import org.sdpo.transformer.io.Checkpoint;
import org.sdpo.transformer.tokenizer.CharTokenizer;
import org.sdpo.transformer.train.Pretrainer;

/**
 * Pre-training on the fake CUDA device with every step after the first replayed from recordings
 * (what it does on a GPU) writes the same metrics and the same checkpoint as running every step
 * kernel by kernel: documents of several lengths (so each batch ignores another number of
 * padded targets), two micro-batches per step, a learning-rate schedule, clipping that sometimes
 * scales.
 */
class RecordedPretrainTest {
  @TempDir Path dir;

  Path pretrain(boolean graphs) throws Exception {
    Path data = dir.resolve("docs.jsonl");
    StringBuilder docs = new StringBuilder();
    for (int i = 0; i < 30; i++) {
      docs.append("{\"prompt\": \"").append("ab".repeat(1 + i % 3))
          .append("=\", \"completion\": \"")
          .append("cd".substring(0, 1 + i % 2)).append("\"}\n");
    }
    Files.writeString(data, docs);
    Path out = dir.resolve(graphs ? "recorded" : "stepwise");
    Pretrainer.Config c = new Pretrainer.Config(data, out, 1, 2, 16, 16, 3, 6, 2e-2, 2e-3, 2, 0.1,
        0.5, 2, 7, 6, Pretrainer.Layout.DOCUMENTS);
    Backend cpu = Backends.current();
    FakeDevice device = new FakeDevice();
    try {
      Backends.install(new CudaBackend(device, CudaBackend.Precision.FP32, graphs));
      long l0 = device.launches();
      Pretrainer.run(c, CharTokenizer.ascii(), false, null);
      long launches = device.launches() - l0;
      Files.writeString(out.resolve("launches"), Long.toString(launches));
    } finally {
      Backends.install(cpu);
    }
    return out;
  }

  @Test
  void recordedStepsWriteTheSameMetricsAndCheckpoint() throws Exception {
    Path stepwise = pretrain(false);
    Path recorded = pretrain(true);
    List<String> ms = Files.readAllLines(stepwise.resolve(Pretrainer.METRICS));
    List<String> mr = Files.readAllLines(recorded.resolve(Pretrainer.METRICS));
    assertThat(mr).hasSize(6).hasSameSizeAs(ms);
    for (int i = 0; i < ms.size(); i++) { // steps, losses, lr, norms (times differ)
      assertThat(mr.get(i).replaceAll(",\"tokens_per_s.*", ""))
          .isEqualTo(ms.get(i).replaceAll(",\"tokens_per_s.*", ""));
    }
    assertThat(String.join("\n", ms)).as("a step whose norm was clipped").containsPattern(
        "\"grad_norm\":(0\\.[5-9]|[1-9])");
    Map<String, org.sdpo.autograd.Variable> a =
        Checkpoint.load(stepwise, DType.FLOAT32).namedParameters();
    Map<String, org.sdpo.autograd.Variable> b =
        Checkpoint.load(recorded, DType.FLOAT32).namedParameters();
    a.forEach((n, v) -> assertThat(b.get(n).value().toFloatArray()).as(n)
        .containsExactly(v.value().toFloatArray()));
    long launchesStepwise = Long.parseLong(Files.readString(stepwise.resolve("launches")));
    long launchesRecorded = Long.parseLong(Files.readString(recorded.resolve("launches")));
    assertThat(launchesRecorded).as("launches with recorded steps")
        .isLessThan(launchesStepwise / 2);
  }
}
