package org.sdpo.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sdpo.core.TrainConfig;
import org.sdpo.core.Trainer;
import org.sdpo.tensor.Backend;
import org.sdpo.tensor.Backends;
import org.sdpo.tensor.DType;
import org.sdpo.tensor.Rng;
import org.sdpo.tensor.cuda.CudaBackend;
import org.sdpo.tensor.cuda.FakeDevice;
import org.sdpo.transformer.CausalLm;
import org.sdpo.transformer.Gpt;
import org.sdpo.transformer.GptConfig;
import org.sdpo.transformer.io.Checkpoint;
import org.sdpo.transformer.tokenizer.CharTokenizer;

/**
 * SDPO training end to end on the CUDA backend's fake device: rollouts sampled with the decode
 * step recorded (a CUDA graph on a GPU), graded with feedback, re-scored by the self-teacher,
 * distilled, validated. The run writes the same metrics and checkpoint as the same run with
 * nothing recorded, bit for bit: recording changes how kernels are launched, never what they
 * compute.
 */
class FakeDeviceTrainTest {
  @TempDir Path dir;
  final Map<Boolean, Long> launches = new LinkedHashMap<>();

  Path train(Path base, boolean graphs) throws Exception {
    Path out = dir.resolve(graphs ? "recorded" : "stepwise");
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("model", base.toString());
    m.put("out", out.toString());
    m.put("env", "addition");
    m.put("feedback", "full");
    m.put("algorithm", "sdpo");
    m.put("steps", 2);
    m.put("questions_per_step", 2);
    m.put("group_size", 3);
    m.put("max_new_tokens", 6);
    m.put("val_every", 2);
    m.put("val_tasks", 2);
    m.put("val_k", 2);
    m.put("save_every", 2);
    m.put("max_reprompt_len", 200);
    m.put("threads", 1);
    Backend cpu = Backends.current();
    FakeDevice device = new FakeDevice();
    try {
      Backends.install(new CudaBackend(device, CudaBackend.Precision.FP32, graphs));
      Trainer.run(TrainConfig.of(m), false, null);
    } finally {
      Backends.install(cpu);
    }
    launches.put(graphs, device.launches());
    return out;
  }

  @Test
  void sdpoOnTheFakeDeviceGivesTheSameRunWithAndWithoutRecording() throws Exception {
    CharTokenizer tok = CharTokenizer.ascii();
    Path base = dir.resolve("base");
    Checkpoint.save(Gpt.init(GptConfig.of(tok.vocabSize(), 512, 16, 1, 2), DType.FLOAT32,
        new Rng(1)), tok, base, null);
    Path stepwise = train(base, false);
    Path recorded = train(base, true);
    List<String> ms = Files.readAllLines(stepwise.resolve(Trainer.METRICS));
    List<String> mr = Files.readAllLines(recorded.resolve(Trainer.METRICS));
    assertThat(mr).hasSize(2).hasSameSizeAs(ms);
    for (int i = 0; i < ms.size(); i++) {
      assertThat(withoutTimes(mr.get(i))).isEqualTo(withoutTimes(ms.get(i)));
    }
    assertThat(ms.get(1)).contains("\"val_avg_at_2\"", "\"feedback_used_fraction\"");
    assertThat(launches.get(true)).as("launches with decoding recorded")
        .isLessThan(launches.get(false));
    CausalLm a = Checkpoint.load(stepwise.resolve("checkpoint"), DType.FLOAT32);
    CausalLm b = Checkpoint.load(recorded.resolve("checkpoint"), DType.FLOAT32);
    a.namedParameters().forEach((n, v) -> assertThat(b.namedParameters().get(n).value()
        .toFloatArray()).as(n).containsExactly(v.value().toFloatArray()));
  }

  /** A metrics line without the keys that measure time or memory. */
  static String withoutTimes(String line) {
    return line.replaceAll("\"(time_[a-z_]+|step_seconds|elapsed_s|resident_bytes|"
        + "tensor_allocat[a-z_]+|peak_resident_bytes)\":[-0-9.Ee]+,?", "");
  }
}
