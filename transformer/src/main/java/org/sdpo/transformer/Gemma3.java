package org.sdpo.transformer;

import java.util.Map;
import org.sdpo.autograd.F;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.DType;
import org.sdpo.tensor.Rng;
import org.sdpo.tensor.Tensor;
import org.sdpo.transformer.nn.Embedding;
import org.sdpo.transformer.nn.GatedMlp;
import org.sdpo.transformer.nn.GqaAttention;
import org.sdpo.transformer.nn.KvCache;
import org.sdpo.transformer.nn.Linear;
import org.sdpo.transformer.nn.RmsNorm;
import org.sdpo.transformer.nn.Rotary;
import org.sdpo.transformer.nn.SandwichLayer;

/**
 * Gemma 3's text decoder (Gemma 3 270M, 1B): token embeddings scaled by sqrt(C),
 * {@code num_hidden_layers} layers each with its input and output normalised
 * ({@link SandwichLayer}) of rotary grouped-query attention with per-head q/k norms and a GELU
 * gated feed-forward layer ({@link GatedMlp}, GeGLU), a final norm and the embedding as the LM head (or
 * {@code lm_head.weight}). Every norm is Gemma's, x / rms(x) * (1 + w). Sliding layers rotate by
 * {@code rope_local_base_freq}, full layers by {@code rope_theta} (and {@code rope_scaling}); the
 * window itself is the context's cap ({@link Gemma3Config}). Parameter names are the Hugging Face
 * checkpoint keys.
 *
 * <p>Dimension letters: B batch, T time, C = hidden_size, V = vocab_size, H query heads, Hkv key
 * and value heads, D = head_dim, I = intermediate_size.
 */
public final class Gemma3 extends CausalLm {
  public final Gemma3Config config;
  public final Embedding embedTokens;
  public final SandwichLayer[] layers;
  public final RmsNorm norm;
  public final Linear lmHead; // null when tied to the embedding
  private final Rotary globalRotary;
  private final Rotary localRotary;

  private Gemma3(Gemma3Config config, Map<String, Tensor> w) {
    super(w.get("model.embed_tokens.weight").dtype());
    this.config = config;
    this.embedTokens = child("model.embed_tokens",
        new Embedding(w.get("model.embed_tokens.weight")));
    this.layers = new SandwichLayer[config.numHiddenLayers()];
    double eps = config.rmsNormEps();
    for (int i = 0; i < layers.length; i++) {
      String p = "model.layers." + i + ".";
      String a = p + "self_attn.";
      GqaAttention attn = new GqaAttention(linear(w, a + "q_proj"), linear(w, a + "k_proj"),
          linear(w, a + "v_proj"), linear(w, a + "o_proj"), norm(w, a + "q_norm", eps),
          norm(w, a + "k_norm", eps), config.numAttentionHeads(), config.numKeyValueHeads(), i);
      GatedMlp mlp = new GatedMlp(linear(w, p + "mlp.gate_proj"), linear(w, p + "mlp.up_proj"),
          linear(w, p + "mlp.down_proj"), GatedMlp.Activation.GELU_TANH);
      layers[i] = child("model.layers." + i, new SandwichLayer(norm(w, p + "input_layernorm", eps),
          attn, norm(w, p + "post_attention_layernorm", eps),
          norm(w, p + "pre_feedforward_layernorm", eps), mlp,
          norm(w, p + "post_feedforward_layernorm", eps)));
    }
    this.norm = child("model.norm", norm(w, "model.norm", eps));
    this.lmHead = config.tieWordEmbeddings() ? null
        : child("lm_head", new Linear(w.get("lm_head.weight"), null));
    this.globalRotary = new Rotary(config.rope(), config.headDim(), dtype, config.nPositions());
    this.localRotary = new Rotary(config.localRope(), config.headDim(), dtype, config.nPositions());
  }

  private static Linear linear(Map<String, Tensor> w, String name) {
    return new Linear(w.get(name + ".weight"), null);
  }

  private static RmsNorm norm(Map<String, Tensor> w, String name, double eps) {
    return new RmsNorm(w.get(name + ".weight"), eps, true);
  }

  /**
   * A freshly initialised model, as Hugging Face initialises Gemma 3: linear and embedding
   * weights normal(0, 0.02), every norm's weight 0 (a scale of 1 + 0).
   */
  public static Gemma3 init(Gemma3Config config, DType dtype, Rng rng) {
    Map<String, Tensor> w = initialWeights(config, dtype, rng, name -> name.endsWith("norm.weight"),
        name -> 0.02);
    w.replaceAll((name, t) -> name.endsWith("norm.weight") ? Tensor.zeros(dtype, t.shape()) : t);
    return new Gemma3(config, w);
  }

  /**
   * A model from named weights (checkpoint names, exact shapes, one dtype). Every parameter must
   * be present with its shape; nothing is built otherwise.
   */
  public static Gemma3 fromWeights(Gemma3Config config, Map<String, Tensor> weights) {
    checkWeights(config, weights);
    return new Gemma3(config, weights);
  }

  @Override
  public Gemma3Config config() {
    return config;
  }

  @Override
  public Gemma3 copy(DType target) {
    return (Gemma3) super.copy(target);
  }

  @Override
  protected Gemma3 withWeights(Map<String, Tensor> weights) {
    return new Gemma3(config, weights);
  }

  /** The rotary angles are rows of tables gathered by position ids: nothing from the host. */
  @Override
  public boolean recordableDecode() {
    return true;
  }

  @Override
  protected Variable hidden(int[] ids, int[] pos, int B, int T, Tensor keyMask, KvCache cache) {
    int cover = cache == null ? 0 : cache.capacity();
    // cos, sin (B, T, D/2) of each rotary base; with a cache, tables that cover its capacity
    Tensor[] global = globalRotary.cosSin(pos, B, T, cover);
    Tensor[] local = config.anySliding() ? localRotary.cosSin(pos, B, T, cover) : global;
    // (B, T, C), times sqrt(C) as the model's float32 buffer holds it
    Variable x = F.scale(embedTokens.forward(ids, B, T), config.embedScale());
    for (int i = 0; i < layers.length; i++) {
      SandwichLayer l = layers[i];
      Tensor[] cs = config.slides(i) ? local : global;
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
