package org.sdpo.transformer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The sizes and options of Gemma 3's text decoder ({@code model_type} gemma3_text: Gemma 3 270M
 * and 1B, and the text part of the larger ones), named as in its {@code config.json}: the Llama
 * sizes ({@code hidden_size} C, {@code intermediate_size} I, {@code num_attention_heads} H,
 * {@code num_key_value_heads} Hkv, {@code head_dim} D, ...) and what Gemma 3 adds:
 * {@code layer_types} (each layer {@code sliding_attention} or {@code full_attention}; older
 * files give {@code sliding_window_pattern}: every n-th layer full), {@code sliding_window},
 * {@code rope_local_base_freq} (the sliding layers' rotary base; the full layers take
 * {@code rope_theta} and {@code rope_scaling}), {@code query_pre_attn_scalar}.
 *
 * <p>A sliding layer's query sees the last {@code sliding_window} positions. Within that many
 * positions this is plain causal attention, so the context is capped at the window when a layer
 * slides ({@link #nPositions}) and the computation is exact. Not supported, with an error naming
 * the key: {@code query_pre_attn_scalar} other than {@code head_dim} (Gemma 3 27B), logit
 * soft-capping (Gemma 2), bidirectional attention, biases, another activation.
 */
public record Gemma3Config(int vocabSize, int hiddenSize, int intermediateSize,
    int numHiddenLayers, int numAttentionHeads, int numKeyValueHeads, int headDim,
    int maxPositionEmbeddings, double rmsNormEps, RopeConfig rope, RopeConfig localRope,
    int slidingWindow, boolean[] sliding, boolean tieWordEmbeddings) implements ModelConfig {

  public static final String TYPE = "gemma3_text";
  private static final ObjectMapper JSON = new ObjectMapper();

  public Gemma3Config {
    LlamaConfig.checkSizes(vocabSize, hiddenSize, intermediateSize, numHiddenLayers,
        numAttentionHeads, numKeyValueHeads, headDim, maxPositionEmbeddings, rmsNormEps);
    LlamaConfig.positive("sliding_window", slidingWindow);
    java.util.Objects.requireNonNull(rope, "rope");
    java.util.Objects.requireNonNull(localRope, "localRope");
    if (sliding.length != numHiddenLayers) {
      throw new IllegalArgumentException("layer_types has " + sliding.length + " entries for "
          + numHiddenLayers + " layers");
    }
    sliding = sliding.clone();
  }

  /**
   * A small config with Gemma 3's defaults: every sixth layer full, rope_theta 1e6 on the full
   * layers and 1e4 on the sliding ones, rms_norm_eps 1e-6, tied embeddings.
   */
  public static Gemma3Config of(int vocabSize, int nPositions, int hiddenSize, int layers,
      int heads, int kvHeads, int headDim, int intermediateSize, int slidingWindow) {
    return new Gemma3Config(vocabSize, hiddenSize, intermediateSize, layers, heads, kvHeads,
        headDim, nPositions, 1e-6, RopeConfig.plain(1_000_000), RopeConfig.plain(10_000),
        slidingWindow, pattern(layers, 6), true);
  }

  /** Layer i slides unless (i + 1) is a multiple of {@code n} (sliding_window_pattern). */
  public static boolean[] pattern(int layers, int n) {
    boolean[] s = new boolean[layers];
    for (int i = 0; i < layers; i++) {
      s[i] = (i + 1) % n != 0;
    }
    return s;
  }

  /** Whether any layer slides. */
  public boolean anySliding() {
    for (boolean s : sliding) {
      if (s) {
        return true;
      }
    }
    return false;
  }

  /** Whether layer {@code i} is a sliding-window layer. */
  public boolean slides(int i) {
    return sliding[i];
  }

  /** The embedding scale sqrt(C), rounded to float as the model's float32 buffer holds it. */
  public double embedScale() {
    return (float) Math.sqrt(hiddenSize);
  }

  @Override
  public String modelType() {
    return TYPE;
  }

  /** max_position_embeddings, or a smaller sliding_window when a layer slides. */
  @Override
  public int nPositions() {
    return anySliding() ? Math.min(maxPositionEmbeddings, slidingWindow) : maxPositionEmbeddings;
  }

  @Override
  public String nPositionsKey() {
    return anySliding() && slidingWindow < maxPositionEmbeddings ? "sliding_window"
        : "max_position_embeddings";
  }

  @Override
  public int nLayer() {
    return numHiddenLayers;
  }

  @Override
  public int kvHeads() {
    return numKeyValueHeads;
  }

  @Override
  public Map<String, int[]> parameterShapes() {
    int C = hiddenSize;
    int I = intermediateSize;
    int D = headDim;
    Map<String, int[]> m = new LinkedHashMap<>();
    m.put("model.embed_tokens.weight", new int[] {vocabSize, C});
    for (int i = 0; i < numHiddenLayers; i++) {
      String l = "model.layers." + i + ".";
      m.put(l + "input_layernorm.weight", new int[] {C});
      m.put(l + "self_attn.q_proj.weight", new int[] {numAttentionHeads * D, C});
      m.put(l + "self_attn.k_proj.weight", new int[] {numKeyValueHeads * D, C});
      m.put(l + "self_attn.v_proj.weight", new int[] {numKeyValueHeads * D, C});
      m.put(l + "self_attn.o_proj.weight", new int[] {C, numAttentionHeads * D});
      m.put(l + "self_attn.q_norm.weight", new int[] {D});
      m.put(l + "self_attn.k_norm.weight", new int[] {D});
      m.put(l + "post_attention_layernorm.weight", new int[] {C});
      m.put(l + "pre_feedforward_layernorm.weight", new int[] {C});
      m.put(l + "post_feedforward_layernorm.weight", new int[] {C});
      m.put(l + "mlp.gate_proj.weight", new int[] {I, C});
      m.put(l + "mlp.up_proj.weight", new int[] {I, C});
      m.put(l + "mlp.down_proj.weight", new int[] {C, I});
    }
    m.put("model.norm.weight", new int[] {C});
    if (!tieWordEmbeddings) {
      m.put("lm_head.weight", new int[] {vocabSize, C});
    }
    return m;
  }

  /**
   * Reads a config.json already parsed (the file's own, or the {@code text_config} of a
   * multimodal Gemma 3 file); errors name the key.
   */
  public static Gemma3Config fromJson(JsonNode n) {
    String act = n.hasNonNull("hidden_activation") ? n.get("hidden_activation").asText()
        : n.path("hidden_act").asText("gelu_pytorch_tanh");
    if (!act.equals("gelu_pytorch_tanh")) {
      throw new IllegalArgumentException("hidden_activation \"" + act + "\" is not supported "
          + "(gelu_pytorch_tanh is)");
    }
    for (String k : new String[] {"attn_logit_softcapping", "final_logit_softcapping"}) {
      if (n.hasNonNull(k)) {
        throw new IllegalArgumentException(k + " " + n.get(k) + " is not supported (null is)");
      }
    }
    if (n.path("use_bidirectional_attention").asBoolean(false)) {
      throw new IllegalArgumentException("use_bidirectional_attention is true; only causal"
          + " attention is supported");
    }
    if (n.path("attention_bias").asBoolean(false)) {
      throw new IllegalArgumentException("attention_bias is true; not supported");
    }
    int C = LlamaConfig.intKey(n, "hidden_size");
    int H = LlamaConfig.intKey(n, "num_attention_heads");
    int D = n.hasNonNull("head_dim") ? LlamaConfig.intKey(n, "head_dim") : (H > 0 ? C / H : 0);
    if (n.hasNonNull("query_pre_attn_scalar") && n.get("query_pre_attn_scalar").asDouble() != D) {
      throw new IllegalArgumentException("query_pre_attn_scalar " + n.get("query_pre_attn_scalar")
          + " is not supported (only head_dim, " + D + ": attention scales by 1/sqrt(head_dim))");
    }
    int layers = LlamaConfig.intKey(n, "num_hidden_layers");
    boolean[] sliding;
    if (n.hasNonNull("layer_types")) {
      JsonNode t = n.get("layer_types");
      sliding = new boolean[t.size()];
      for (int i = 0; i < t.size(); i++) {
        String s = t.get(i).asText();
        if (!s.equals("sliding_attention") && !s.equals("full_attention")) {
          throw new IllegalArgumentException("layer_types[" + i + "] is \"" + s
              + "\" (sliding_attention or full_attention)");
        }
        sliding[i] = s.equals("sliding_attention");
      }
    } else {
      int p = n.has("sliding_window_pattern") ? LlamaConfig.intKey(n, "sliding_window_pattern")
          : n.has("_sliding_window_pattern") ? LlamaConfig.intKey(n, "_sliding_window_pattern") : 6;
      sliding = pattern(layers, p);
    }
    RopeConfig global;
    RopeConfig local;
    JsonNode params = n.path("rope_parameters");
    if (params.has("full_attention") || params.has("sliding_attention")) { // transformers 5
      global = RopeConfig.ofParameters(params.path("full_attention"), 1_000_000);
      local = RopeConfig.ofParameters(params.path("sliding_attention"), 10_000);
      if (!local.type().equals("default")) {
        throw new IllegalArgumentException("rope_parameters.sliding_attention of type \""
            + local.type() + "\" is not supported (default is)");
      }
    } else {
      global = RopeConfig.read(n);
      local = RopeConfig.plain(n.has("rope_local_base_freq")
          ? n.get("rope_local_base_freq").asDouble() : 10_000);
    }
    return new Gemma3Config(LlamaConfig.intKey(n, "vocab_size"), C,
        LlamaConfig.intKey(n, "intermediate_size"), layers, H,
        n.hasNonNull("num_key_value_heads") ? LlamaConfig.intKey(n, "num_key_value_heads") : H, D,
        LlamaConfig.intKey(n, "max_position_embeddings"),
        n.has("rms_norm_eps") ? n.get("rms_norm_eps").asDouble() : 1e-6, global, local,
        n.hasNonNull("sliding_window") ? LlamaConfig.intKey(n, "sliding_window") : 4096, sliding,
        n.path("tie_word_embeddings").asBoolean(true));
  }

  @Override
  public ObjectNode toJson() {
    ObjectNode n = JSON.createObjectNode();
    n.putArray("architectures").add("Gemma3ForCausalLM");
    n.put("model_type", TYPE);
    n.put("vocab_size", vocabSize);
    n.put("hidden_size", hiddenSize);
    n.put("intermediate_size", intermediateSize);
    n.put("num_hidden_layers", numHiddenLayers);
    n.put("num_attention_heads", numAttentionHeads);
    n.put("num_key_value_heads", numKeyValueHeads);
    n.put("head_dim", headDim);
    n.put("query_pre_attn_scalar", headDim);
    n.put("max_position_embeddings", maxPositionEmbeddings);
    n.put("rms_norm_eps", rmsNormEps);
    rope.write(n);
    n.put("rope_local_base_freq", localRope.theta());
    n.put("sliding_window", slidingWindow);
    ArrayNode types = n.putArray("layer_types");
    for (boolean s : sliding) {
      types.add(s ? "sliding_attention" : "full_attention");
    }
    n.put("hidden_activation", "gelu_pytorch_tanh");
    n.putNull("attn_logit_softcapping");
    n.putNull("final_logit_softcapping");
    n.put("attention_bias", false);
    n.put("tie_word_embeddings", tieWordEmbeddings);
    n.put("initializer_range", 0.02);
    n.put("torch_dtype", "float32");
    return n;
  }

  // a record's equals compares arrays by identity: by content here, as a config is a value
  @Override
  public boolean equals(Object o) {
    return o instanceof Gemma3Config g && toJson().equals(g.toJson());
  }

  @Override
  public int hashCode() {
    return toJson().hashCode();
  }

  @Override
  public boolean[] sliding() {
    return sliding.clone();
  }
}
