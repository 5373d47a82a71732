package org.sdpo.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;
import org.sdpo.tensor.DType;
import org.sdpo.tensor.Tensor;
import org.sdpo.transformer.io.Safetensors;

/**
 * {@code ./sdpo audit sdpo} against SDPO's loss written in PyTorch after the reference
 * implementation (tools/make_sdpo_fixtures.py): log-probs, per-token loss, mean loss and every
 * student gradient, float64, relative error below 1e-9, for reverse KL on top-K + tail, JSD on the
 * full vocabulary, forward KL renormalised on top-K with temperature, generalized JSD, and the
 * sampled-token estimator.
 */
class SdpoAuditParityTest {
  static final Path MODEL = Path.of("../transformer/src/test/resources/fixtures/gpt2-tiny");
  static final Path FIX = Path.of("src/test/resources/fixtures/sdpo");
  @TempDir Path dir;

  /** max |a - e| / max |e|. */
  static double relErr(Tensor a, Tensor e) {
    return a.to(org.sdpo.tensor.DType.FLOAT64).maxAbsDiff(e) / Math.max(e.maxAbs(), 1e-300);
  }


  @ParameterizedTest
  @ValueSource(strings = {"reverse_topk_tail", "jsd_full", "forward_topk_renorm", "gjsd_topk_tail",
      "sampled_token"})
  void matchesTheReferenceLossInFloat64(String name) throws Exception {
    Path out = dir.resolve(name + ".safetensors");
    SdpoAudit.run(MODEL, null, FIX.resolve(name + ".json"), out, DType.FLOAT64);
    Map<String, Tensor> ours = Safetensors.read(out, DType.FLOAT64, n -> false);
    Map<String, Tensor> exp = Safetensors.read(FIX.resolve(name + ".expected.safetensors"),
        DType.FLOAT64, n -> false);
    assertThat(ours.keySet()).containsExactlyInAnyOrderElementsOf(exp.keySet());
    for (String k : exp.keySet()) {
      assertThat(ours.get(k).shape()).as(k).containsExactly(exp.get(k).shape());
      assertThat(relErr(ours.get(k), exp.get(k))).as(name + ": " + k).isLessThan(1e-9);
    }
  }

  @Test
  void badCaseFilesNameTheFileAndField() throws Exception {
    Path f = dir.resolve("c.json");
    Files.writeString(f, "{\"student_input_ids\": [1, 2, 3], \"teacher_input_ids\": [4, 2, 9],"
        + " \"response_length\": 2, \"loss\": {\"alpha\": 1}}");
    assertThatThrownBy(() -> SdpoAudit.read(f)).hasMessageContaining("c.json")
        .hasMessageContaining("must end with the response");
    Files.writeString(f, "{\"student_input_ids\": [1, 2, 3], \"teacher_input_ids\": [4, 2, 3],"
        + " \"response_length\": 3, \"loss\": {}}");
    assertThatThrownBy(() -> SdpoAudit.read(f)).hasMessageContaining("leaves no context");
    Files.writeString(f, "{\"student_input_ids\": [1, 2, 3], \"teacher_input_ids\": [4, 2, 3],"
        + " \"response_length\": 2, \"loss\": {\"mode\": \"sampled_token\", \"alpha\": 0.5}}");
    assertThatThrownBy(() -> SdpoAudit.read(f)).hasMessageContaining("loss: ")
        .hasMessageContaining("alpha must be 1");
  }
}
