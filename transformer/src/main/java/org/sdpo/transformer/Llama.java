package org.sdpo.transformer;

import java.util.Map;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.DType;
import org.sdpo.tensor.Rng;
import org.sdpo.tensor.Tensor;
import org.sdpo.transformer.nn.DecoderLayer;
import org.sdpo.transformer.nn.Embedding;
import org.sdpo.transformer.nn.GqaAttention;
import org.sdpo.transformer.nn.KvCache;
import org.sdpo.transformer.nn.Linear;
import org.sdpo.transformer.nn.RmsNorm;
import org.sdpo.transformer.nn.Rotary;
import org.sdpo.transformer.nn.RotaryLayer;
import org.sdpo.transformer.nn.SandwichLayer;
import org.sdpo.transformer.nn.GatedMlp;

/**
 * The Llama-family decoder (Llama 2/3, SmolLM2, Mistral, Qwen2/2.5, Qwen3, OLMo 2): token
 * embeddings, {@code num_hidden_layers} pre-RMSNorm layers (OLMo 2: post-norm,
 * {@link SandwichLayer}) of rotary grouped-query attention and a SwiGLU feed-forward layer, a final
 * RMSNorm and an LM head (its own {@code lm_head.weight}, or the
 * embedding when {@code tie_word_embeddings}). No position embedding table: positions enter
 * through the rotation of queries and keys. Parameter names are the Hugging Face checkpoint keys
 * ({@code model.embed_tokens.weight}, {@code model.layers.0.self_attn.q_proj.weight}, ...).
 *
 * <p>Dimension letters: B batch, T time, C = hidden_size, V = vocab_size, H query heads, Hkv key
 * and value heads, D = head_dim, I = intermediate_size.
 */
public final class Llama extends CausalLm {
  public final LlamaConfig config;
  public final Embedding embedTokens;
  public final RotaryLayer[] layers; // DecoderLayer; OLMo 2: SandwichLayer without input norms
  public final RmsNorm norm;
  public final Linear lmHead; // null when tied to the embedding
  private final Rotary rotary;

  private Llama(LlamaConfig config, Map<String, Tensor> w) {
    super(w.get("model.embed_tokens.weight").dtype());
    this.config = config;
    this.embedTokens = child("model.embed_tokens",
        new Embedding(w.get("model.embed_tokens.weight")));
    this.layers = new RotaryLayer[config.numHiddenLayers()];
    double eps = config.rmsNormEps();
    for (int i = 0; i < layers.length; i++) {
      String p = "model.layers." + i + ".";
      String a = p + "self_attn.";
      GqaAttention attn = new GqaAttention(linear(w, a + "q_proj"), linear(w, a + "k_proj"),
          linear(w, a + "v_proj"), linear(w, a + "o_proj"),
          config.qkNorm() ? new RmsNorm(w.get(a + "q_norm.weight"), eps) : null,
          config.qkNorm() ? new RmsNorm(w.get(a + "k_norm.weight"), eps) : null,
          config.numAttentionHeads(), config.numKeyValueHeads(), i, config.qkNormOverHeads());
      GatedMlp mlp = new GatedMlp(linear(w, p + "mlp.gate_proj"), linear(w, p + "mlp.up_proj"),
          linear(w, p + "mlp.down_proj"), GatedMlp.Activation.SILU);
      RmsNorm postAttention = new RmsNorm(w.get(p + "post_attention_layernorm.weight"), eps);
      layers[i] = config.postNorm()
          ? child("model.layers." + i, new SandwichLayer(null, attn, postAttention, null, mlp,
              new RmsNorm(w.get(p + "post_feedforward_layernorm.weight"), eps)))
          : child("model.layers." + i, new DecoderLayer(
              new RmsNorm(w.get(p + "input_layernorm.weight"), eps), attn, postAttention, mlp));
    }
    this.norm = child("model.norm", new RmsNorm(w.get("model.norm.weight"), eps));
    this.lmHead = config.tieWordEmbeddings() ? null
        : child("lm_head", new Linear(w.get("lm_head.weight"), null));
    this.rotary = new Rotary(config.rope(), config.headDim(), dtype, config.nPositions());
  }

  private static Linear linear(Map<String, Tensor> w, String name) {
    return new Linear(w.get(name + ".weight"), w.get(name + ".bias"));
  }

  /**
   * A freshly initialised model, as Hugging Face initialises Llama-family models: every linear
   * and embedding weight normal(0, 0.02), biases 0, RMSNorm scales 1.
   */
  public static Llama init(LlamaConfig config, DType dtype, Rng rng) {
    return new Llama(config, initialWeights(config, dtype, rng,
        name -> name.endsWith("norm.weight"), name -> 0.02));
  }

  /**
   * A model from named weights (checkpoint names, exact shapes, one dtype). Every parameter must
   * be present with its shape; nothing is built otherwise.
   */
  public static Llama fromWeights(LlamaConfig config, Map<String, Tensor> weights) {
    checkWeights(config, weights);
    return new Llama(config, weights);
  }

  @Override
  public LlamaConfig config() {
    return config;
  }

  @Override
  public Llama copy(DType target) {
    return (Llama) super.copy(target);
  }

  @Override
  protected Llama withWeights(Map<String, Tensor> weights) {
    return new Llama(config, weights);
  }

  /** The rotary angles are rows of tables gathered by position ids: nothing from the host. */
  @Override
  public boolean recordableDecode() {
    return true;
  }

  @Override
  protected Variable hidden(int[] ids, int[] pos, int B, int T, Tensor keyMask, KvCache cache) {
    // cos, sin (B, T, D/2); with a cache, tables that cover its capacity (what later steps reach)
    Tensor[] cs = rotary.cosSin(pos, B, T, cache == null ? 0 : cache.capacity());
    Variable x = embedTokens.forward(ids, B, T); // (B, T, C)
    for (RotaryLayer l : layers) {
      x = block(in -> l.forward(in, cs[0], cs[1], keyMask, cache), x);
    }
    if (cache != null) {
      cache.advance(T);
    }
    return norm.forward(x); // (B, T, C)
  }

  /** {@code lm_head.weight}, or the token embedding where the checkpoint ties them. */
  @Override
  public Variable headWeight() {
    return lmHead != null ? lmHead.weight : embedTokens.weight; // (V, C)
  }
}
