package org.sdpo.transformer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;
import org.sdpo.tensor.DType;
import org.sdpo.tensor.Rng;

/**
 * The behaviour tests of {@link GptBehaviourTest} on a Qwen3-shaped model (grouped-query
 * attention, q/k norms, head_dim 6 != hidden_size / heads, rotary positions), plus the Llama
 * family's own config checks.
 */
class LlamaBehaviourTest extends GptBehaviourTest {
  static LlamaConfig qwen3(int layers) {
    return new LlamaConfig("qwen3", 23, 16, 24, layers, 4, 2, 6, 32, 1e-6,
        RopeConfig.plain(1e6), true, false, false);
  }

  @Override
  CausalLm model(DType d) {
    return Llama.init(qwen3(2), d, new Rng(3));
  }

  @Override
  CausalLm deeper(DType d) {
    return Llama.init(qwen3(4), d, new Rng(7));
  }

  @Test
  @Override
  void badSizesNameTheirKey() {
    assertThatThrownBy(() -> LlamaConfig.of("llama", 10, 8, 16, 1, 4, 3, 32))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("num_key_value_heads");
    assertThatThrownBy(() -> LlamaConfig.of("gemma", 10, 8, 16, 1, 4, 4, 32))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("model_type");
    assertThatThrownBy(() -> new RopeConfig(1e4, "yarn", 4, 0, 0, 0))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("yarn");
    assertThatThrownBy(() -> LlamaConfig.of("llama", 10, 8, 10, 1, 2, 2, 32))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("head_dim");
  }

  @Test
  void namesAreHuggingFacesAndTheTiedHeadIsTheEmbedding() {
    CausalLm m = model(DType.FLOAT32);
    assertThat(m.namedParameters().keySet()).contains("model.embed_tokens.weight",
        "model.layers.1.self_attn.q_norm.weight", "model.layers.0.mlp.gate_proj.weight",
        "model.norm.weight").doesNotContain("lm_head.weight");
    assertThat(m.namedParameters().keySet()).containsExactlyElementsOf(
        qwen3(2).parameterShapes().keySet());
    assertThat(m.namedParameters().get("model.layers.0.self_attn.q_proj.weight").shape())
        .containsExactly(24, 16); // H * head_dim = 4 * 6 rows, C = 16 columns
    assertThat(m.config().parameterCount()).isEqualTo(m.namedParameters().values().stream()
        .mapToLong(v -> v.value().numel()).sum());
  }
}
