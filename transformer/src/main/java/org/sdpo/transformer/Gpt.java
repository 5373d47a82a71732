package org.sdpo.transformer;

import java.util.Map;
import org.sdpo.autograd.F;
import org.sdpo.autograd.Grad;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.DType;
import org.sdpo.tensor.Rng;
import org.sdpo.tensor.Tensor;
import org.sdpo.transformer.nn.Attention;
import org.sdpo.transformer.nn.Block;
import org.sdpo.transformer.nn.Conv1D;
import org.sdpo.transformer.nn.Embedding;
import org.sdpo.transformer.nn.KvCache;
import org.sdpo.transformer.nn.LayerNorm;
import org.sdpo.transformer.nn.Mlp;
import org.sdpo.transformer.nn.Module;

/**
 * GPT-2: token and learned position embeddings, {@code n_layer} pre-LayerNorm blocks, a final
 * LayerNorm, and an LM head tied to the token embedding. Parameter names are the Hugging Face
 * checkpoint keys ({@code wte.weight}, {@code h.0.attn.c_attn.weight}, ..., {@code ln_f.bias}).
 *
 * <p>Dimension letters: B batch, T time, C = n_embd, V = vocab_size, H heads, D = C / H.
 */
public final class Gpt extends CausalLm {
  public final GptConfig config;
  public final Embedding wte;
  public final Embedding wpe;
  public final Block[] h;
  public final LayerNorm lnF;
  private Gpt(GptConfig config, Map<String, Tensor> w) {
    super(w.get("wte.weight").dtype());
    this.config = config;
    this.wte = child("wte", new Embedding(w.get("wte.weight")));
    this.wpe = child("wpe", new Embedding(w.get("wpe.weight")));
    this.h = new Block[config.nLayer()];
    double eps = config.layerNormEpsilon();
    for (int i = 0; i < h.length; i++) {
      String p = "h." + i + ".";
      h[i] = child("h." + i, new Block(
          new LayerNorm(w.get(p + "ln_1.weight"), w.get(p + "ln_1.bias"), eps),
          new Attention(new Conv1D(w.get(p + "attn.c_attn.weight"), w.get(p + "attn.c_attn.bias")),
              new Conv1D(w.get(p + "attn.c_proj.weight"), w.get(p + "attn.c_proj.bias")),
              config.nHead(), i),
          new LayerNorm(w.get(p + "ln_2.weight"), w.get(p + "ln_2.bias"), eps),
          new Mlp(new Conv1D(w.get(p + "mlp.c_fc.weight"), w.get(p + "mlp.c_fc.bias")),
              new Conv1D(w.get(p + "mlp.c_proj.weight"), w.get(p + "mlp.c_proj.bias")))));
    }
    this.lnF = child("ln_f", new LayerNorm(w.get("ln_f.weight"), w.get("ln_f.bias"), eps));
  }

  /**
   * A freshly initialised model, as GPT-2 initialises: weights normal(0, 0.02), the residual
   * projections ({@code c_proj}) scaled by 1/sqrt(2 n_layer), biases 0, LayerNorms 1 and 0.
   */
  public static Gpt init(GptConfig config, DType dtype, Rng rng) {
    double residualStd = 0.02 / Math.sqrt(2.0 * config.nLayer());
    return new Gpt(config, initialWeights(config, dtype, rng,
        name -> name.contains("ln_") && name.endsWith(".weight"),
        name -> name.endsWith("c_proj.weight") ? residualStd : 0.02));
  }

  /**
   * A model from named weights (checkpoint names, exact shapes, one dtype). Every parameter must
   * be present with its shape; nothing is built otherwise.
   */
  public static Gpt fromWeights(GptConfig config, Map<String, Tensor> weights) {
    checkWeights(config, weights);
    return new Gpt(config, weights);
  }

  @Override
  public GptConfig config() {
    return config;
  }

  @Override
  public Gpt copy(DType target) {
    return (Gpt) super.copy(target);
  }

  @Override
  protected Gpt withWeights(Map<String, Tensor> weights) {
    return new Gpt(config, weights);
  }

  /** GPT-2's positions are a gather from wpe by position ids: nothing computed on the host. */
  @Override
  public boolean recordableDecode() {
    return true;
  }

  @Override
  protected Variable hidden(int[] ids, int[] pos, int B, int T, Tensor keyMask, KvCache cache) {
    Variable x = F.add(wte.forward(ids, B, T), wpe.forward(pos, B, T)); // (B, T, C)
    for (Block b : h) {
      x = block(in -> b.forward(in, keyMask, cache), x);
    }
    if (cache != null) {
      cache.advance(T);
    }
    return lnF.forward(x); // (B, T, C)
  }

  /** GPT-2's head is tied to the token embedding. */
  @Override
  public Variable headWeight() {
    return wte.weight;
  }
}
