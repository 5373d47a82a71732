package org.sdpo.transformer;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.sdpo.tensor.DType;
import org.sdpo.transformer.io.Checkpoint;

/**
 * Our Llama, Qwen2, Qwen3 and Gemma 3 against an independent PyTorch implementation
 * (tools/make_llama_fixtures.py): logits at real tokens, the loss and every parameter's gradient
 * for a batch with right padding, left padding and shifted position ids. The cases: Llama with
 * grouped-query attention and an untied head; Llama tied, rope_theta 5e5 and the llama3
 * frequency rule; Qwen2 with q/k/v biases, one key/value head, linear rope scaling and sharded
 * weights; Qwen3 with q/k norms and head_dim 6 != hidden_size / heads; Gemma 3 with its sandwich
 * norms (1 + w), scaled embeddings, GELU gate, q/k norms and sliding and full layers on their own
 * rotary bases; OLMo 2 with its norms after attention and MLP and q/k norms over the whole
 * projections. float64: relative error below 1e-9; float32: below 1e-4.
 */
class LlamaParityTest {
  static final Path FIXTURES = Path.of("src/test/resources/fixtures");

  @ParameterizedTest
  @ValueSource(strings = {"llama-gqa", "llama-tied", "qwen2-bias", "qwen3-qknorm",
      "gemma3-sandwich", "olmo2-postnorm"})
  void matchesPyTorchInFloat64(String fixture) throws Exception {
    GptParityTest.check(FIXTURES.resolve(fixture), DType.FLOAT64, "expected_f64.safetensors", 1e-9);
  }

  @ParameterizedTest
  @ValueSource(strings = {"llama-gqa", "llama-tied", "qwen2-bias", "qwen3-qknorm",
      "gemma3-sandwich", "olmo2-postnorm"})
  void matchesPyTorchInFloat32(String fixture) throws Exception {
    GptParityTest.check(FIXTURES.resolve(fixture), DType.FLOAT32, "expected_f32.safetensors", 1e-4);
  }

  @ParameterizedTest
  @ValueSource(strings = {"llama-gqa", "llama-tied", "qwen2-bias", "qwen3-qknorm",
      "gemma3-sandwich", "olmo2-postnorm"})
  void loadsTheArchitectureTheConfigNames(String fixture) throws Exception {
    CausalLm m = Checkpoint.load(FIXTURES.resolve(fixture), DType.FLOAT64);
    String family = fixture.substring(0, fixture.indexOf('-'));
    assertThat(m).isInstanceOf(family.equals("gemma3") ? Gemma3.class : Llama.class);
    assertThat(m.config().modelType())
        .isEqualTo(family.equals("gemma3") ? "gemma3_text" : family);
  }
}
