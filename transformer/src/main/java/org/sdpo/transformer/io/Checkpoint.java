package org.sdpo.transformer.io;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.DType;
import org.sdpo.tensor.Tensor;
import org.sdpo.transformer.Gpt;
import org.sdpo.transformer.GptConfig;
import org.sdpo.transformer.tokenizer.Tokenizer;

/**
 * A checkpoint directory in the Hugging Face layout: {@code config.json} (GPT-2 keys),
 * {@code model.safetensors} (GPT-2 tensor names; Conv1D weights as [in, out]) and the tokenizer's
 * files. Loading accepts the {@code transformer.} prefix, ignores Hugging Face's attention-mask
 * buffers and a duplicate {@code lm_head.weight}, and reads F32, F16, BF16 and F64. A missing
 * tensor, a shape that disagrees with {@code config.json} or an unknown tensor is an error naming
 * the file and the tensor, raised before any model is built.
 */
public final class Checkpoint {
  public static final String CONFIG = "config.json";
  public static final String WEIGHTS = "model.safetensors";

  private Checkpoint() {}

  /** Loads the model of a checkpoint directory in the given dtype. */
  public static Gpt load(Path dir, DType dtype) throws IOException {
    Path configFile = dir.resolve(CONFIG);
    Path weightsFile = dir.resolve(WEIGHTS);
    if (!Files.isDirectory(dir)) {
      throw new NoSuchFileException(dir + " is not a checkpoint directory");
    }
    if (!Files.exists(configFile)) {
      throw new NoSuchFileException(configFile + " (a checkpoint needs config.json)");
    }
    if (!Files.exists(weightsFile)) {
      throw new NoSuchFileException(weightsFile + " (a checkpoint needs model.safetensors)");
    }
    GptConfig config = GptConfig.read(configFile);
    Map<String, Tensor> raw = Safetensors.read(weightsFile, dtype, Checkpoint::ignored);
    Map<String, int[]> expected = config.parameterShapes();
    Map<String, Tensor> weights = new LinkedHashMap<>();
    for (Map.Entry<String, Tensor> e : raw.entrySet()) {
      String name = e.getKey().startsWith("transformer.")
          ? e.getKey().substring("transformer.".length()) : e.getKey();
      if (!expected.containsKey(name)) {
        throw new IOException(weightsFile + ": unexpected tensor '" + e.getKey()
            + "' for a GPT-2 with n_layer=" + config.nLayer());
      }
      if (weights.put(name, e.getValue()) != null) {
        throw new IOException(weightsFile + ": tensor '" + name + "' appears twice");
      }
    }
    for (Map.Entry<String, int[]> e : expected.entrySet()) {
      Tensor t = weights.get(e.getKey());
      if (t == null) {
        throw new IOException(weightsFile + ": missing tensor '" + e.getKey() + "'");
      }
      if (!Arrays.equals(t.shape(), e.getValue())) {
        throw new IOException(weightsFile + ": tensor '" + e.getKey() + "' has shape "
            + Arrays.toString(t.shape()) + ", but " + configFile.getFileName() + " needs "
            + Arrays.toString(e.getValue()));
      }
    }
    return Gpt.fromWeights(config, weights);
  }

  /** Hugging Face's causal-mask buffers and the tied LM head, which carry no parameters of ours. */
  static boolean ignored(String name) {
    return name.endsWith(".attn.bias") || name.endsWith(".attn.masked_bias")
        || name.equals("lm_head.weight");
  }

  /**
   * Writes a model (and its tokenizer, if given) into {@code dir}: config.json, model.safetensors,
   * tokenizer files, each atomically. Extra string metadata goes into the safetensors header.
   */
  public static void save(Gpt model, Tokenizer tokenizer, Path dir, Map<String, String> metadata)
      throws IOException {
    AtomicFiles.writeJson(dir.resolve(CONFIG), model.config.toJson());
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

  /**
   * Overwrites a model's weights with those of a safetensors file holding exactly its parameters
   * (names and shapes), e.g. a saved EMA teacher. Nothing is changed if any tensor is missing or
   * has another shape.
   */
  public static Gpt loadWeightsInto(Gpt model, Path file) throws IOException {
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
