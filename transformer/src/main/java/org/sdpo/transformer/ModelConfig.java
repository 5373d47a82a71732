package org.sdpo.transformer;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.Map;

/**
 * What every architecture's config tells the rest of the project: the sizes the trainer, the
 * sampler and the KV cache need, the parameter names and shapes of a checkpoint, and the
 * {@code config.json} it is written as.
 */
public interface ModelConfig {
  /** Hugging Face's {@code model_type}: gpt2, llama, mistral, qwen2, qwen3, olmo2, gemma3_text. */
  String modelType();

  int vocabSize();

  /** The longest context (GPT-2's {@code n_positions}, Llama's {@code max_position_embeddings}). */
  int nPositions();

  /** The config.json key of {@link #nPositions}, for messages. */
  default String nPositionsKey() {
    return modelType().equals("gpt2") ? "n_positions" : "max_position_embeddings";
  }

  int nLayer();

  /** Whether the LM head is the token embedding ({@code tie_word_embeddings}; GPT-2's always). */
  boolean tieWordEmbeddings();

  /** Key and value heads per layer (the KV cache's H). */
  int kvHeads();

  /** Size of one attention head (the KV cache's D). */
  int headDim();

  /** Every parameter's checkpoint name and shape, in checkpoint order. */
  Map<String, int[]> parameterShapes();

  /** The number of parameters (a tied LM head counted once). */
  default long parameterCount() {
    return parameterShapes().values().stream().mapToLong(s -> {
      long n = 1;
      for (int d : s) {
        n *= d;
      }
      return n;
    }).sum();
  }

  /** The config as Hugging Face writes it. */
  ObjectNode toJson();
}
