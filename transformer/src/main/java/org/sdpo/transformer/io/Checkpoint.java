package org.sdpo.transformer.io;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.DType;
import org.sdpo.tensor.Tensor;
import org.sdpo.transformer.CausalLm;
import org.sdpo.transformer.Gemma3;
import org.sdpo.transformer.Gemma3Config;
import org.sdpo.transformer.Gpt;
import org.sdpo.transformer.GptConfig;
import org.sdpo.transformer.Llama;
import org.sdpo.transformer.LlamaConfig;
import org.sdpo.transformer.ModelConfig;
import org.sdpo.transformer.tokenizer.Tokenizer;

/**
 * A checkpoint directory in the Hugging Face layout: {@code config.json}, the weights in
 * {@code model.safetensors} or in shards listed by {@code model.safetensors.index.json}, and the
 * tokenizer's files. {@code model_type} picks the architecture: gpt2 ({@link Gpt}: Conv1D weights
 * as [in, out]; the {@code transformer.} prefix, the attention-mask buffers and a duplicate
 * {@code lm_head.weight} are accepted), llama, mistral, qwen2, qwen3, olmo2 ({@link Llama}) or
 * gemma3_text ({@link Gemma3}) (Hugging Face's names; {@code lm_head.weight} of a tied model and
 * rotary {@code inv_freq} buffers are ignored). F32, F16, BF16 and F64 are read. A missing
 * tensor, a shape that disagrees with config.json, an unknown tensor or an unsupported option is
 * an error naming the file and the tensor or key, raised before any model is built.
 */
public final class Checkpoint {
  public static final String CONFIG = "config.json";
  public static final String WEIGHTS = "model.safetensors";
  public static final String INDEX = "model.safetensors.index.json";
  /** The model types {@link #load} reads. */
  public static final List<String> TYPES = List.of("gpt2", "llama", "mistral", "qwen2", "qwen3",
      "olmo2", Gemma3Config.TYPE);
  private static final ObjectMapper JSON = new ObjectMapper();

  private Checkpoint() {}

  /** Loads the model of a checkpoint directory in the given dtype. */
  public static CausalLm load(Path dir, DType dtype) throws IOException {
    ModelConfig config = readConfig(dir);
    Map<String, Tensor> weights = readWeights(dir, config, dtype);
    try {
      if (config instanceof GptConfig g) {
        return Gpt.fromWeights(g, weights);
      }
      return config instanceof Gemma3Config g ? Gemma3.fromWeights(g, weights)
          : Llama.fromWeights((LlamaConfig) config, weights);
    } catch (IllegalArgumentException e) {
      throw new IOException(dir + ": " + e.getMessage(), e);
    }
  }

  /** The config.json of a checkpoint directory; errors name the file and the key. */
  public static ModelConfig readConfig(Path dir) throws IOException {
    if (!Files.isDirectory(dir)) {
      throw new NoSuchFileException(dir + " is not a checkpoint directory");
    }
    Path file = dir.resolve(CONFIG);
    if (!Files.exists(file)) {
      throw new NoSuchFileException(file + " (a checkpoint needs config.json)");
    }
    JsonNode n = TextFiles.readTree(JSON, file, "JSON");
    if (n == null || !n.isObject()) {
      throw new IOException(file + ": expected a JSON object");
    }
    String type = n.has("model_type") ? n.get("model_type").asText()
        : n.has("n_embd") ? "gpt2" : null; // early GPT-2 configs have no model_type
    try {
      if (type == null) {
        throw new IllegalArgumentException("missing \"model_type\" (one of " + TYPES + ")");
      }
      if (type.equals("gpt2")) {
        return GptConfig.fromJson(n);
      }
      if (LlamaConfig.TYPES.contains(type)) {
        return LlamaConfig.fromJson(n);
      }
      if (type.equals(Gemma3Config.TYPE)) {
        return Gemma3Config.fromJson(n);
      }
      throw new IllegalArgumentException("\"model_type\": \"" + type + "\" is not supported (one of "
          + TYPES + ")");
    } catch (IllegalArgumentException e) {
      throw new IOException(file + ": " + e.getMessage(), e);
    }
  }

  /**
   * Every parameter of {@code config} from the directory's safetensors file(s), under our names,
   * checked against the config's names and shapes.
   */
  static Map<String, Tensor> readWeights(Path dir, ModelConfig config, DType dtype)
      throws IOException {
    Map<String, Path> files = weightFiles(dir);
    Map<String, int[]> expected = config.parameterShapes();
    boolean gpt2 = config instanceof GptConfig;
    Map<String, Tensor> weights = new LinkedHashMap<>();
    Map<String, Path> from = new LinkedHashMap<>();
    for (Path f : new java.util.LinkedHashSet<>(files.values())) {
      Map<String, Tensor> raw = Safetensors.read(f, dtype, n -> ignored(n, config));
      for (Map.Entry<String, Tensor> e : raw.entrySet()) {
        String name = gpt2 && e.getKey().startsWith("transformer.")
            ? e.getKey().substring("transformer.".length()) : e.getKey();
        if (!expected.containsKey(name)) {
          throw new IOException(f + ": unexpected tensor '" + e.getKey() + "' for a "
              + config.modelType() + " with " + config.nLayer() + " layers"
              + (name.equals("lm_head.weight") ? " and untied embeddings" : ""));
        }
        if (weights.put(name, e.getValue()) != null) {
          throw new IOException(f + ": tensor '" + name + "' appears twice (also in "
              + from.get(name).getFileName() + ")");
        }
        from.put(name, f);
      }
    }
    String where = files.size() == 1 && files.containsKey("")
        ? files.get("").toString() : dir.resolve(INDEX).toString();
    for (Map.Entry<String, int[]> e : expected.entrySet()) {
      Tensor t = weights.get(e.getKey());
      if (t == null) {
        throw new IOException(where + ": missing tensor '" + e.getKey() + "'");
      }
      if (!Arrays.equals(t.shape(), e.getValue())) {
        throw new IOException(from.get(e.getKey()) + ": tensor '" + e.getKey() + "' has shape "
            + Arrays.toString(t.shape()) + ", but " + CONFIG + " needs "
            + Arrays.toString(e.getValue()));
      }
    }
    return weights;
  }

  /**
   * The weight files: {@code model.safetensors} (under the key "") or the shards named by the
   * index's {@code weight_map} (tensor name to file).
   */
  static Map<String, Path> weightFiles(Path dir) throws IOException {
    Path single = dir.resolve(WEIGHTS);
    Path index = dir.resolve(INDEX);
    if (Files.exists(single)) {
      return Map.of("", single);
    }
    if (!Files.exists(index)) {
      throw new NoSuchFileException(single + " (a checkpoint needs " + WEIGHTS + " or " + INDEX
          + ")");
    }
    JsonNode n = TextFiles.readTree(JSON, index, "JSON");
    JsonNode map = n == null ? null : n.get("weight_map");
    if (map == null || !map.isObject() || map.isEmpty()) {
      throw new IOException(index + ": missing or empty \"weight_map\"");
    }
    Map<String, Path> out = new LinkedHashMap<>();
    for (Map.Entry<String, JsonNode> e : map.properties()) {
      String file = e.getValue().asText();
      Path shard = dir.resolve(file).normalize();
      if (!e.getValue().isTextual() || file.contains("/") || file.contains("\\")
          || !shard.getParent().equals(dir.normalize())) {
        throw new IOException(index + ": \"weight_map\".\"" + e.getKey()
            + "\" must name a file in the same directory, got " + e.getValue());
      }
      if (!Files.exists(shard)) {
        throw new NoSuchFileException(shard + " (listed in " + index.getFileName() + " for '"
            + e.getKey() + "')");
      }
      out.put(e.getKey(), shard);
    }
    return out;
  }

  /**
   * Tensors of a checkpoint that are not parameters of ours: GPT-2's causal-mask buffers and
   * tied LM head, a tied Llama's duplicate lm_head.weight, rotary inv_freq buffers.
   */
  static boolean ignored(String name, ModelConfig config) {
    if (config instanceof GptConfig) {
      return name.endsWith(".attn.bias") || name.endsWith(".attn.masked_bias")
          || name.equals("lm_head.weight");
    }
    return name.endsWith(".rotary_emb.inv_freq")
        || (name.equals("lm_head.weight") && config.tieWordEmbeddings());
  }

  /**
   * Writes a model (and its tokenizer, if given) into {@code dir}: config.json, model.safetensors,
   * tokenizer files, each atomically. Extra string metadata goes into the safetensors header.
   */
  public static void save(CausalLm model, Tokenizer tokenizer, Path dir, Map<String, String> metadata)
      throws IOException {
    AtomicFiles.writeJson(dir.resolve(CONFIG), model.config().toJson());
    Map<String, Tensor> w = new LinkedHashMap<>();
    for (Map.Entry<String, Variable> e : model.namedParameters().entrySet()) {
      w.put(e.getKey(), e.getValue().value());
    }
    Map<String, String> meta = new LinkedHashMap<>();
    meta.put("format", "pt");
    if (metadata != null) {
      meta.putAll(metadata);
    }
    Safetensors.write(dir.resolve(WEIGHTS), w, meta);
    if (tokenizer != null) {
      tokenizer.save(dir);
    }
  }

  /** The files a checkpoint directory may hold: its config, weights and tokenizer of any kind. */
  public static final List<String> FILES = List.of(CONFIG, WEIGHTS, INDEX, "tokenizer.json",
      "tokenizer_config.json", "vocab.json", "merges.txt", "char_tokenizer.json",
      "chat_template.jinja", "generation_config.json");

  /**
   * Deletes the checkpoint files ({@link #FILES}) in {@code dir}, nothing else, before a new
   * checkpoint is written there from scratch: a tokenizer file of another kind left behind would be
   * read in place of the new one (a model directory's tokenizer.json comes first). Not done when a
   * run saves again into its own checkpoint: each file is then replaced whole.
   */
  public static void removeFiles(Path dir) throws IOException {
    for (String f : FILES) {
      Files.deleteIfExists(dir.resolve(f));
    }
  }

  /**
   * Overwrites a model's weights with those of a safetensors file holding exactly its parameters
   * (names and shapes), e.g. a saved EMA teacher. Nothing is changed if any tensor is missing or
   * has another shape.
   */
  public static CausalLm loadWeightsInto(CausalLm model, Path file) throws IOException {
    Map<String, Tensor> w = Safetensors.read(file, model.dtype(), n -> false);
    for (Map.Entry<String, Variable> e : model.namedParameters().entrySet()) {
      Tensor t = w.get(e.getKey());
      if (t == null) {
        throw new IOException(file + ": missing tensor '" + e.getKey() + "'");
      }
      if (!Arrays.equals(t.shape(), e.getValue().shape())) {
        throw new IOException(file + ": tensor '" + e.getKey() + "' has shape "
            + Arrays.toString(t.shape()) + ", expected " + Arrays.toString(e.getValue().shape()));
      }
    }
    model.namedParameters().forEach((n, v) -> v.value().assign(w.get(n)));
    return model;
  }
}
