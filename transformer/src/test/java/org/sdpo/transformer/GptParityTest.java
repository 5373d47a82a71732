package org.sdpo.transformer;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.sdpo.autograd.F;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.DType;
import org.sdpo.tensor.Tensor;
import org.sdpo.transformer.io.Checkpoint;
import org.sdpo.transformer.io.Safetensors;

/**
 * Our GPT-2 against an independent PyTorch implementation (tools/make_gpt2_fixtures.py): logits at
 * real tokens, the loss and every parameter's gradient, for a batch with right padding, left
 * padding and explicit position ids. float64: relative error below 1e-9; float32: below 1e-4.
 * Relative error = max |ours - expected| / max |expected| per tensor.
 */
class GptParityTest {
  static final Path FIXTURES = Path.of("src/test/resources/fixtures/gpt2-tiny");

  record Batch(int B, int T, int[] ids, double[] mask, int[] pos, int[] labels) {}

  static Batch batch(Path fixtures) throws Exception {
    JsonNode n = new ObjectMapper().readTree(fixtures.resolve("batch.json").toFile());
    int B = n.get("input_ids").size();
    int T = n.get("input_ids").get(0).size();
    int[] ids = new int[B * T];
    double[] mask = new double[B * T];
    int[] pos = new int[B * T];
    int[] labels = new int[B * T];
    for (int b = 0; b < B; b++) {
      for (int t = 0; t < T; t++) {
        ids[b * T + t] = n.get("input_ids").get(b).get(t).asInt();
        mask[b * T + t] = n.get("attention_mask").get(b).get(t).asDouble();
        pos[b * T + t] = n.get("position_ids").get(b).get(t).asInt();
        labels[b * T + t] = n.get("labels").get(b).get(t).asInt();
      }
    }
    return new Batch(B, T, ids, mask, pos, labels);
  }

  /** max |ours - expected| / max |expected|. */
  static double relErr(Tensor ours, Tensor expected) {
    return ours.to(org.sdpo.tensor.DType.FLOAT64).maxAbsDiff(expected) / Math.max(expected.maxAbs(), 1e-300);
  }


  /**
   * Loads the fixture's checkpoint in {@code dtype}, runs its batch forward and backward, and
   * compares the loss, the logits at real tokens and every gradient with the expected file.
   */
  static void check(Path fixtures, DType dtype, String expectedFile, double tol) throws Exception {
    CausalLm model = Checkpoint.load(fixtures, dtype);
    Batch b = batch(fixtures);
    Map<String, Tensor> exp = Safetensors.read(fixtures.resolve(expectedFile), DType.FLOAT64, n -> false);
    Tensor mask = Tensor.of(dtype, b.mask(), b.B(), b.T());
    Variable logits = model.forward(b.ids(), b.B(), b.T(), mask, b.pos(), null);
    Variable loss = F.crossEntropy(F.reshape(logits, b.B() * b.T(), -1), b.labels(), -100);
    assertThat(Math.abs(loss.value().item() - exp.get("loss").item()) / exp.get("loss").item())
        .as("loss").isLessThan(tol);
    // logits at real tokens only (a pad's own logits are undefined)
    Tensor keep = Tensor.of(DType.FLOAT64, b.mask(), b.B(), b.T(), 1);
    assertThat(relErr(logits.value().to(DType.FLOAT64).mul(keep), exp.get("logits").mul(keep)))
        .as("logits").isLessThan(tol);
    loss.backward();
    for (Map.Entry<String, Variable> e : model.namedParameters().entrySet()) {
      Tensor g = exp.get("grad." + e.getKey());
      assertThat(g).as("expected gradient of " + e.getKey()).isNotNull();
      assertThat(g.isFinite()).as("fixture gradient of " + e.getKey()).isTrue();
      assertThat(e.getValue().grad()).as("gradient of " + e.getKey()).isNotNull();
      assertThat(relErr(e.getValue().grad().to(DType.FLOAT64), g))
          .as("gradient of " + e.getKey()).isLessThan(tol);
    }
  }

  @Test
  void matchesPyTorchInFloat64() throws Exception {
    check(FIXTURES, DType.FLOAT64, "expected_f64.safetensors", 1e-9);
  }

  @Test
  void matchesPyTorchInFloat32() throws Exception {
    check(FIXTURES, DType.FLOAT32, "expected_f32.safetensors", 1e-4);
  }
}
