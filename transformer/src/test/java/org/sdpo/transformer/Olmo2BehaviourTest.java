package org.sdpo.transformer;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;
import org.sdpo.tensor.DType;
import org.sdpo.tensor.Rng;

/**
 * The behaviour tests of {@link GptBehaviourTest} on an OLMo 2 shaped model (norms after
 * attention and MLP, q/k norms over the whole projections, grouped-query attention, untied head).
 */
class Olmo2BehaviourTest extends GptBehaviourTest {
  static LlamaConfig olmo2(int layers) {
    return new LlamaConfig("olmo2", 23, 16, 24, layers, 4, 2, 4, 32, 1e-6,
        RopeConfig.plain(5e5), false, false, false);
  }

  @Override
  CausalLm model(DType d) {
    return Llama.init(olmo2(2), d, new Rng(3));
  }

  @Override
  CausalLm deeper(DType d) {
    return Llama.init(olmo2(4), d, new Rng(7));
  }

  @Test
  void namesAreHuggingFacesWithoutInputNorms() {
    CausalLm m = model(DType.FLOAT32);
    assertThat(m.namedParameters().keySet()).containsExactlyElementsOf(
        olmo2(2).parameterShapes().keySet());
    assertThat(m.namedParameters().keySet()).contains(
        "model.layers.0.post_feedforward_layernorm.weight", "lm_head.weight")
        .noneMatch(n -> n.contains("input_layernorm"));
    assertThat(m.namedParameters().get("model.layers.0.self_attn.q_norm.weight").shape())
        .containsExactly(16); // H * D = 4 * 4: the whole projection
    assertThat(m.namedParameters().get("model.layers.0.self_attn.k_norm.weight").shape())
        .containsExactly(8); // Hkv * D = 2 * 4
  }
}
