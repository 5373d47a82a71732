package org.sdpo.transformer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sdpo.tensor.DType;
import org.sdpo.tensor.Tensor;
import org.sdpo.transformer.io.Safetensors;

/** The audit file of the fixture checkpoint (written by PyTorch) equals PyTorch's outputs. */
class AuditTest {
  @TempDir Path dir;

  @Test
  void auditOutputMatchesTheReferenceFrameworkInFloat64() throws Exception {
    Path out = dir.resolve("audit.safetensors");
    Audit.run(GptParityTest.FIXTURES, GptParityTest.FIXTURES.resolve("batch.json"), out,
        DType.FLOAT64);
    Map<String, Tensor> ours = Safetensors.read(out, DType.FLOAT64, n -> false);
    Map<String, Tensor> exp = Safetensors.read(
        GptParityTest.FIXTURES.resolve("expected_f64.safetensors"), DType.FLOAT64, n -> false);
    assertThat(Safetensors.header(out).get(0).dtype()).isEqualTo("F64");
    assertThat(ours.keySet()).containsAll(exp.keySet());
    assertThat(ours.get("logits").shape()).containsExactly(3, 7, 37);
    assertThat(ours.get("loss").rank()).isZero();
    for (String k : exp.keySet()) {
      if (!k.equals("logits")) {
        assertThat(GptParityTest.relErr(ours.get(k), exp.get(k))).as(k).isLessThan(1e-9);
      }
    }
    Path out32 = dir.resolve("audit32.safetensors");
    Audit.run(GptParityTest.FIXTURES, GptParityTest.FIXTURES.resolve("batch.json"), out32,
        DType.FLOAT32);
    assertThat(Safetensors.header(out32).get(0).dtype()).isEqualTo("F32");
  }

  @Test
  void badBatchFilesNameTheFileAndKey() throws Exception {
    Path f = dir.resolve("b.json");
    Files.writeString(f, "{\"input_ids\": [[1, 2], [3]], \"labels\": [[1, 2], [3, 4]]}");
    assertThatThrownBy(() -> Audit.readBatch(f)).hasMessageContaining("b.json")
        .hasMessageContaining("\"input_ids\"[1] has 1 entries, expected 2");
    Files.writeString(f, "{\"input_ids\": [[1, 2]], \"labels\": [[1, 2, 3]]}");
    assertThatThrownBy(() -> Audit.readBatch(f)).hasMessageContaining("\"labels\"[0]");
    Files.writeString(f, "{\"input_ids\": [[1, 2]]}");
    assertThatThrownBy(() -> Audit.readBatch(f)).hasMessageContaining("missing \"labels\"");
    Files.writeString(f, "{\"input_ids\": [[1, \"x\"]], \"labels\": [[1, 2]]}");
    assertThatThrownBy(() -> Audit.readBatch(f)).hasMessageContaining("[0][1] is not an integer");
    Files.writeString(f, "{\"input_ids\": [[1, 2]], \"labels\": [[1, 2]], \"attention_mask\": [[1, 2]]}");
    assertThatThrownBy(() -> Audit.readBatch(f)).hasMessageContaining("attention_mask[0][1] is 2");
    Files.writeString(f, "[1, 2");
    assertThatThrownBy(() -> Audit.readBatch(f)).hasMessageContaining("not valid JSON");
  }
}
