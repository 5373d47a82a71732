package org.sdpo.transformer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The sizes and options of a Llama-family decoder, named as in Hugging Face's {@code config.json}
 * for {@code model_type} llama, mistral, qwen2, qwen3 and olmo2: {@code hidden_size} (C),
 * {@code intermediate_size} (the SwiGLU width), {@code num_hidden_layers},
 * {@code num_attention_heads} (H), {@code num_key_value_heads} (Hkv; grouped-query attention when
 * fewer than H), {@code head_dim} (D; C / H unless given, Qwen3 gives it),
 * {@code max_position_embeddings}, {@code rms_norm_eps}, the rotary embedding
 * ({@link RopeConfig}), {@code tie_word_embeddings}, {@code attention_bias} and {@code mlp_bias}.
 * What the model type fixes: Qwen2 has biases on q, k and v (not on o); Qwen3 normalises each
 * query and key head (q_norm, k_norm, RMSNorm over D) before the rotation; OLMo 2 normalises
 * the whole query and key projections (over H*D and Hkv*D) and puts each layer's norms after its
 * attention and its MLP instead of before ({@link #postNorm}); Mistral is Llama
 * without biases, with a {@code sliding_window} (0 here: none): a query sees the last
 * {@code sliding_window} positions. Within that many positions this is full causal attention,
 * so the context is capped there ({@link #nPositions}) and the computation is exact.
 */
public record LlamaConfig(String modelType, int vocabSize, int hiddenSize, int intermediateSize,
    int numHiddenLayers, int numAttentionHeads, int numKeyValueHeads, int headDim,
    int maxPositionEmbeddings, double rmsNormEps, RopeConfig rope, boolean tieWordEmbeddings,
    boolean attentionBias, boolean mlpBias, int slidingWindow) implements ModelConfig {

  /** The model types this config describes. */
  public static final java.util.List<String> TYPES =
      java.util.List.of("llama", "mistral", "qwen2", "qwen3", "olmo2");

  /** A config without a sliding window. */
  public LlamaConfig(String modelType, int vocabSize, int hiddenSize, int intermediateSize,
      int numHiddenLayers, int numAttentionHeads, int numKeyValueHeads, int headDim,
      int maxPositionEmbeddings, double rmsNormEps, RopeConfig rope, boolean tieWordEmbeddings,
      boolean attentionBias, boolean mlpBias) {
    this(modelType, vocabSize, hiddenSize, intermediateSize, numHiddenLayers, numAttentionHeads,
        numKeyValueHeads, headDim, maxPositionEmbeddings, rmsNormEps, rope, tieWordEmbeddings,
        attentionBias, mlpBias, 0);
  }

  public LlamaConfig {
    if (!TYPES.contains(modelType)) {
      throw new IllegalArgumentException("model_type \"" + modelType + "\" is not one of " + TYPES);
    }
    checkSizes(vocabSize, hiddenSize, intermediateSize, numHiddenLayers, numAttentionHeads,
        numKeyValueHeads, headDim, maxPositionEmbeddings, rmsNormEps);
    java.util.Objects.requireNonNull(rope, "rope");
    if (slidingWindow < 0 || (slidingWindow > 0 && !modelType.equals("mistral"))) {
      throw new IllegalArgumentException("sliding_window " + slidingWindow + " (only mistral has"
          + " one here; 0: none)");
    }
    if (modelType.equals("mistral") && (attentionBias || mlpBias)) {
      throw new IllegalArgumentException("mistral has no attention or MLP biases");
    }
  }

  /**
   * The checks every rotary decoder's sizes pass (Llama's family and Gemma 3's), each error naming
   * its config.json key: all positive, the query heads a multiple of the key/value heads, an even
   * head size for the rotation, rms_norm_eps in (0, 1).
   */
  static void checkSizes(int vocabSize, int hiddenSize, int intermediateSize, int layers,
      int heads, int kvHeads, int headDim, int maxPositions, double rmsNormEps) {
    positive("vocab_size", vocabSize);
    positive("hidden_size", hiddenSize);
    positive("intermediate_size", intermediateSize);
    positive("num_hidden_layers", layers);
    positive("num_attention_heads", heads);
    positive("num_key_value_heads", kvHeads);
    positive("head_dim", headDim);
    positive("max_position_embeddings", maxPositions);
    if (heads % kvHeads != 0) {
      throw new IllegalArgumentException("num_attention_heads (" + heads
          + ") must be a multiple of num_key_value_heads (" + kvHeads + ")");
    }
    if (headDim % 2 != 0) {
      throw new IllegalArgumentException("head_dim must be even for the rotary embedding, got "
          + headDim);
    }
    if (!(rmsNormEps > 0 && rmsNormEps < 1)) {
      throw new IllegalArgumentException("rms_norm_eps must be in (0, 1), got " + rmsNormEps);
    }
  }

  static void positive(String key, int v) {
    if (v <= 0) {
      throw new IllegalArgumentException(key + " must be positive, got " + v);
    }
  }

  /**
   * A small config of a model type with the defaults of its family: head_dim = C / H, rope_theta
   * 10000 (Qwen: 1e6), rms_norm_eps 1e-6 (Llama: 1e-5), tied embeddings, no extra biases, no
   * sliding window.
   */
  public static LlamaConfig of(String modelType, int vocabSize, int nPositions, int hiddenSize,
      int layers, int heads, int kvHeads, int intermediateSize) {
    boolean qwen = modelType.startsWith("qwen");
    return new LlamaConfig(modelType, vocabSize, hiddenSize, intermediateSize, layers, heads,
        kvHeads, hiddenSize / heads, nPositions, qwen ? 1e-6 : 1e-5,
        RopeConfig.plain(qwen ? 1_000_000 : 10_000), true, false, false);
  }

  /** Biases on the query, key and value projections (Qwen2 always; others with attention_bias). */
  public boolean qkvBias() {
    return attentionBias || modelType.equals("qwen2");
  }

  /** A bias on the output projection (attention_bias; Qwen2 never has one). */
  public boolean oBias() {
    return attentionBias && !modelType.equals("qwen2");
  }

  /** RMSNorm of queries and keys before the rotation (Qwen3: each head; OLMo 2: all heads). */
  public boolean qkNorm() {
    return modelType.equals("qwen3") || modelType.equals("olmo2");
  }

  /** The q/k norms normalise the whole projection, H*D and Hkv*D wide (OLMo 2), not each head. */
  public boolean qkNormOverHeads() {
    return modelType.equals("olmo2");
  }

  /**
   * Each layer's norms come after its attention and its MLP, on what they add to the residual
   * stream (OLMo 2: post_attention_layernorm, post_feedforward_layernorm), not before them.
   */
  public boolean postNorm() {
    return modelType.equals("olmo2");
  }

  /** max_position_embeddings, or a smaller sliding_window (see the class comment). */
  @Override
  public int nPositions() {
    return slidingWindow > 0 ? Math.min(maxPositionEmbeddings, slidingWindow)
        : maxPositionEmbeddings;
  }

  @Override
  public String nPositionsKey() {
    return slidingWindow > 0 && slidingWindow < maxPositionEmbeddings ? "sliding_window"
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
    int qDim = numAttentionHeads * headDim;
    int kvDim = numKeyValueHeads * headDim;
    int I = intermediateSize;
    Map<String, int[]> m = new LinkedHashMap<>();
    m.put("model.embed_tokens.weight", new int[] {vocabSize, C});
    for (int i = 0; i < numHiddenLayers; i++) {
      String l = "model.layers." + i + ".";
      if (!postNorm()) {
        m.put(l + "input_layernorm.weight", new int[] {C});
      }
      linear(m, l + "self_attn.q_proj", qDim, C, qkvBias());
      linear(m, l + "self_attn.k_proj", kvDim, C, qkvBias());
      linear(m, l + "self_attn.v_proj", kvDim, C, qkvBias());
      linear(m, l + "self_attn.o_proj", C, qDim, oBias());
      if (qkNorm()) {
        m.put(l + "self_attn.q_norm.weight", new int[] {qkNormOverHeads() ? qDim : headDim});
        m.put(l + "self_attn.k_norm.weight", new int[] {qkNormOverHeads() ? kvDim : headDim});
      }
      m.put(l + "post_attention_layernorm.weight", new int[] {C});
      if (postNorm()) {
        m.put(l + "post_feedforward_layernorm.weight", new int[] {C});
      }
      linear(m, l + "mlp.gate_proj", I, C, mlpBias);
      linear(m, l + "mlp.up_proj", I, C, mlpBias);
      linear(m, l + "mlp.down_proj", C, I, mlpBias);
    }
    m.put("model.norm.weight", new int[] {C});
    if (!tieWordEmbeddings) {
      m.put("lm_head.weight", new int[] {vocabSize, C});
    }
    return m;
  }

  /** An nn.Linear's tensors: weight [out, in] (PyTorch's layout) and an optional bias [out]. */
  private static void linear(Map<String, int[]> m, String name, int out, int in, boolean bias) {
    m.put(name + ".weight", new int[] {out, in});
    if (bias) {
      m.put(name + ".bias", new int[] {out});
    }
  }

  private static final ObjectMapper JSON = new ObjectMapper();

  /**
   * Reads a Hugging Face config.json already parsed; errors name the key. The sizes must be
   * present; the rest takes the family's defaults. Options this implementation does not have
   * (another activation, a sliding window) are errors, not silently ignored.
   */
  public static LlamaConfig fromJson(JsonNode n) {
    String type = n.path("model_type").asText();
    String act = n.has("hidden_act") ? n.get("hidden_act").asText() : "silu";
    if (!act.equals("silu")) {
      throw new IllegalArgumentException("hidden_act \"" + act + "\" is not supported (silu is)");
    }
    if (n.path("use_sliding_window").asBoolean(false)) {
      throw new IllegalArgumentException("use_sliding_window is true; sliding-window attention"
          + " is not supported");
    }
    if (n.path("pretraining_tp").asInt(1) != 1) {
      throw new IllegalArgumentException("pretraining_tp " + n.get("pretraining_tp")
          + " is not supported (1 is)");
    }
    int C = intKey(n, "hidden_size");
    int H = intKey(n, "num_attention_heads");
    int headDim = n.hasNonNull("head_dim") ? intKey(n, "head_dim") : (H > 0 ? C / H : 0);
    boolean mistral = type.equals("mistral");
    int window = mistral && n.hasNonNull("sliding_window") ? intKey(n, "sliding_window") : 0;
    if (mistral && n.hasNonNull("sliding_window") && window <= 0) {
      throw new IllegalArgumentException("\"sliding_window\" must be positive or null, got "
          + window);
    }
    return new LlamaConfig(type, intKey(n, "vocab_size"), C,
        intKey(n, "intermediate_size"), intKey(n, "num_hidden_layers"), H,
        n.hasNonNull("num_key_value_heads") ? intKey(n, "num_key_value_heads") : H, headDim,
        intKey(n, "max_position_embeddings"),
        n.has("rms_norm_eps") ? n.get("rms_norm_eps").asDouble() : 1e-6, RopeConfig.read(n),
        n.path("tie_word_embeddings").asBoolean(false),
        !mistral && n.path("attention_bias").asBoolean(false), // Mistral's projections have none
        type.equals("llama") && n.path("mlp_bias").asBoolean(false), window);
  }

  static int intKey(JsonNode n, String key) {
    JsonNode v = n.get(key);
    if (v == null || v.isNull()) {
      throw new IllegalArgumentException("missing \"" + key + "\"");
    }
    if (!v.canConvertToInt() || !v.isIntegralNumber()) {
      throw new IllegalArgumentException("\"" + key + "\" must be an integer, got " + v);
    }
    return v.asInt();
  }

  @Override
  public ObjectNode toJson() {
    ObjectNode n = JSON.createObjectNode();
    String arch = switch (modelType) {
      case "qwen2" -> "Qwen2ForCausalLM";
      case "qwen3" -> "Qwen3ForCausalLM";
      case "mistral" -> "MistralForCausalLM";
      case "olmo2" -> "Olmo2ForCausalLM";
      default -> "LlamaForCausalLM";
    };
    n.putArray("architectures").add(arch);
    n.put("model_type", modelType);
    n.put("vocab_size", vocabSize);
    n.put("hidden_size", hiddenSize);
    n.put("intermediate_size", intermediateSize);
    n.put("num_hidden_layers", numHiddenLayers);
    n.put("num_attention_heads", numAttentionHeads);
    n.put("num_key_value_heads", numKeyValueHeads);
    n.put("head_dim", headDim);
    n.put("max_position_embeddings", maxPositionEmbeddings);
    n.put("rms_norm_eps", rmsNormEps);
    rope.write(n);
    n.put("hidden_act", "silu");
    n.put("tie_word_embeddings", tieWordEmbeddings);
    n.put("attention_bias", attentionBias);
    if (modelType.equals("llama")) {
      n.put("mlp_bias", mlpBias);
    }
    if (modelType.equals("mistral")) {
      if (slidingWindow > 0) {
        n.put("sliding_window", slidingWindow);
      } else {
        n.putNull("sliding_window");
      }
    }
    n.put("initializer_range", 0.02);
    n.put("torch_dtype", "float32");
    return n;
  }
}
