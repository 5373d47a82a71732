package org.sdpo.transformer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;
import org.sdpo.tensor.DType;
import org.sdpo.tensor.Rng;

/**
 * The behaviour tests of {@link GptBehaviourTest} on a Gemma 3 shaped model (sandwich norms,
 * scaled embeddings, GELU gate, q/k norms, head_dim 6 != hidden_size / heads, a sliding layer and
 * a full one on their own rotary bases, a window below max_position_embeddings), plus Gemma 3's
 * own config checks.
 */
class Gemma3BehaviourTest extends GptBehaviourTest {
  /** 23 tokens; max_position_embeddings 64, sliding_window 32: a context of 32. */
  static Gemma3Config gemma3(int layers) {
    return new Gemma3Config(23, 16, 24, layers, 4, 2, 6, 64, 1e-6, RopeConfig.plain(1e6),
        RopeConfig.plain(1e4), 32, Gemma3Config.pattern(layers, 2), true);
  }

  @Override
  CausalLm model(DType d) {
    return Gemma3.init(gemma3(2), d, new Rng(3));
  }

  @Override
  CausalLm deeper(DType d) {
    return Gemma3.init(gemma3(4), d, new Rng(7));
  }

  @Test
  @Override
  void badSizesNameTheirKey() {
    assertThatThrownBy(() -> new Gemma3Config(23, 16, 24, 2, 4, 3, 6, 64, 1e-6,
        RopeConfig.plain(1e6), RopeConfig.plain(1e4), 32, new boolean[2], true))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("num_key_value_heads");
    assertThatThrownBy(() -> new Gemma3Config(23, 16, 24, 2, 4, 2, 6, 64, 1e-6,
        RopeConfig.plain(1e6), RopeConfig.plain(1e4), 32, new boolean[3], true))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("layer_types");
    ObjectNode ok = gemma3(2).toJson();
    String[][] bad = {
        {"query_pre_attn_scalar", "168", "query_pre_attn_scalar 168"},
        {"final_logit_softcapping", "30.0", "final_logit_softcapping"},
        {"attn_logit_softcapping", "50.0", "attn_logit_softcapping"},
        {"hidden_activation", "\"silu\"", "hidden_activation \"silu\""},
        {"use_bidirectional_attention", "true", "use_bidirectional_attention"},
        {"layer_types", "[\"sliding_attention\", \"chunked_attention\"]", "layer_types[1]"},
        {"sliding_window", "0", "sliding_window must be positive"}};
    ObjectMapper json = new ObjectMapper();
    for (String[] b : bad) {
      ObjectNode n = ok.deepCopy();
      n.set(b[0], json.valueToTree(readJson(json, b[1])));
      assertThatThrownBy(() -> Gemma3Config.fromJson(n)).as(b[0])
          .isInstanceOf(IllegalArgumentException.class).hasMessageContaining(b[2]);
    }
  }

  private static Object readJson(ObjectMapper json, String s) {
    try {
      return json.readValue(s, Object.class);
    } catch (java.io.IOException e) {
      throw new IllegalStateException(e);
    }
  }

  @Test
  void namesAreHuggingFacesNormsStartAtZeroAndTheWindowCapsTheContext() {
    CausalLm m = model(DType.FLOAT32);
    assertThat(m.namedParameters().keySet()).containsExactlyElementsOf(
        gemma3(2).parameterShapes().keySet());
    assertThat(m.namedParameters().keySet()).contains(
        "model.layers.1.pre_feedforward_layernorm.weight",
        "model.layers.1.post_feedforward_layernorm.weight",
        "model.layers.0.self_attn.k_norm.weight")
        .doesNotContain("lm_head.weight");
    // Gemma's norms scale by 1 + w: a fresh model's are 0 (a scale of 1), as Hugging Face's
    assertThat(m.namedParameters().get("model.layers.0.input_layernorm.weight").value()
        .toFloatArray()).containsOnly(0f);
    Gemma3Config c = gemma3(2);
    assertThat(c.nPositions()).isEqualTo(32);
    assertThat(c.nPositionsKey()).isEqualTo("sliding_window");
    assertThat(c.slides(0)).isTrue();
    assertThat(c.slides(1)).isFalse();
    assertThat(c.embedScale()).isEqualTo((double) (float) Math.sqrt(16));
    assertThat(m.config().parameterCount()).isEqualTo(m.namedParameters().values().stream()
        .mapToLong(v -> v.value().numel()).sum());
  }

  /**
   * config.json round trip, and the two ways files give the per-layer rotary: rope_theta,
   * rope_scaling and rope_local_base_freq (transformers 4), or one rope_parameters object per
   * layer type (transformers 5); older files give sliding_window_pattern instead of layer_types.
   */
  @Test
  void readsEveryWayAConfigSaysIt() throws Exception {
    Gemma3Config c = new Gemma3Config(23, 16, 24, 3, 4, 2, 6, 64, 1e-6,
        new RopeConfig(1e6, "linear", 8, 0, 0, 0), RopeConfig.plain(1e4), 32,
        Gemma3Config.pattern(3, 3), false);
    assertThat(Gemma3Config.fromJson(c.toJson())).isEqualTo(c);
    ObjectMapper json = new ObjectMapper();
    ObjectNode v5 = c.toJson();
    v5.remove(java.util.List.of("rope_theta", "rope_scaling", "rope_local_base_freq",
        "layer_types"));
    v5.put("sliding_window_pattern", 3);
    ObjectNode params = v5.putObject("rope_parameters");
    params.putObject("full_attention").put("rope_type", "linear").put("factor", 8.0)
        .put("rope_theta", 1e6);
    params.putObject("sliding_attention").put("rope_type", "default").put("rope_theta", 1e4);
    assertThat(Gemma3Config.fromJson(json.readTree(v5.toString()))).isEqualTo(c);
    params.putObject("sliding_attention").put("rope_type", "linear").put("factor", 2.0);
    assertThatThrownBy(() -> Gemma3Config.fromJson(v5))
        .hasMessageContaining("rope_parameters.sliding_attention of type \"linear\"");
  }
}
