package org.sdpo.transformer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The sizes of a GPT-2 model, named as in Hugging Face's {@code config.json}: {@code vocab_size},
 * {@code n_positions} (the longest context), {@code n_embd} (C), {@code n_layer}, {@code n_head}
 * (H; head size D = C / H) and {@code layer_norm_epsilon}. Validated on construction: a bad value
 * is an error naming its key.
 */
public record GptConfig(int vocabSize, int nPositions, int nEmbd, int nLayer, int nHead,
    double layerNormEpsilon) implements ModelConfig {

  public GptConfig {
    positive("vocab_size", vocabSize);
    positive("n_positions", nPositions);
    positive("n_embd", nEmbd);
    positive("n_layer", nLayer);
    positive("n_head", nHead);
    if (nEmbd % nHead != 0) {
      throw new IllegalArgumentException(
          "n_embd (" + nEmbd + ") must be divisible by n_head (" + nHead + ")");
    }
    if (!(layerNormEpsilon > 0 && layerNormEpsilon < 1)) {
      throw new IllegalArgumentException(
          "layer_norm_epsilon must be in (0, 1), got " + layerNormEpsilon);
    }
  }

  private static void positive(String key, int v) {
    if (v <= 0) {
      throw new IllegalArgumentException(key + " must be positive, got " + v);
    }
  }

  /** GPT-2's defaults for everything but the sizes given. */
  public static GptConfig of(int vocabSize, int nPositions, int nEmbd, int nLayer, int nHead) {
    return new GptConfig(vocabSize, nPositions, nEmbd, nLayer, nHead, 1e-5);
  }

  /** Head size D = C / H. */
  public int headSize() {
    return nEmbd / nHead;
  }

  @Override
  public boolean tieWordEmbeddings() {
    return true;
  }

  @Override
  public String modelType() {
    return "gpt2";
  }

  @Override
  public int kvHeads() {
    return nHead;
  }

  @Override
  public int headDim() {
    return headSize();
  }

  @Override
  public Map<String, int[]> parameterShapes() {
    int C = nEmbd;
    Map<String, int[]> m = new LinkedHashMap<>();
    m.put("wte.weight", new int[] {vocabSize, C});
    m.put("wpe.weight", new int[] {nPositions, C});
    for (int i = 0; i < nLayer; i++) {
      String h = "h." + i + ".";
      m.put(h + "ln_1.weight", new int[] {C});
      m.put(h + "ln_1.bias", new int[] {C});
      m.put(h + "attn.c_attn.weight", new int[] {C, 3 * C});
      m.put(h + "attn.c_attn.bias", new int[] {3 * C});
      m.put(h + "attn.c_proj.weight", new int[] {C, C});
      m.put(h + "attn.c_proj.bias", new int[] {C});
      m.put(h + "ln_2.weight", new int[] {C});
      m.put(h + "ln_2.bias", new int[] {C});
      m.put(h + "mlp.c_fc.weight", new int[] {C, 4 * C});
      m.put(h + "mlp.c_fc.bias", new int[] {4 * C});
      m.put(h + "mlp.c_proj.weight", new int[] {4 * C, C});
      m.put(h + "mlp.c_proj.bias", new int[] {C});
    }
    m.put("ln_f.weight", new int[] {C});
    m.put("ln_f.bias", new int[] {C});
    return m;
  }

  private static final ObjectMapper JSON = new ObjectMapper();

  /** Reads a Hugging Face GPT-2 {@code config.json}; errors name the file and the key. */
  public static GptConfig read(Path file) throws IOException {
    JsonNode n = org.sdpo.transformer.io.TextFiles.readTree(JSON, file, "JSON");
    try {
      return fromJson(n);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(file + ": " + e.getMessage(), e);
    }
  }

  /** A GPT-2 config.json already parsed; errors name the key. */
  public static GptConfig fromJson(JsonNode n) {
    return new GptConfig(intKey(n, "vocab_size"), intKey(n, "n_positions"), intKey(n, "n_embd"),
        intKey(n, "n_layer"), intKey(n, "n_head"),
        n.has("layer_norm_epsilon") ? n.get("layer_norm_epsilon").asDouble() : 1e-5);
  }

  private static int intKey(JsonNode n, String key) {
    JsonNode v = n.get(key);
    if (v == null || !v.canConvertToInt()) {
      throw new IllegalArgumentException("missing or non-integer \"" + key + "\"");
    }
    return v.asInt();
  }

  @Override
  public ObjectNode toJson() {
    ObjectNode n = JSON.createObjectNode();
    n.put("model_type", "gpt2");
    n.putArray("architectures").add("GPT2LMHeadModel");
    n.put("vocab_size", vocabSize);
    n.put("n_positions", nPositions);
    n.put("n_ctx", nPositions);
    n.put("n_embd", nEmbd);
    n.put("n_layer", nLayer);
    n.put("n_head", nHead);
    n.put("layer_norm_epsilon", layerNormEpsilon);
    n.put("activation_function", "gelu_new");
    n.put("tie_word_embeddings", true);
    return n;
  }
}
