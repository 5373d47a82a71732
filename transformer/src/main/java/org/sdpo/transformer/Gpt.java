package org.sdpo.transformer;

import java.util.Arrays;
import java.util.LinkedHashMap;
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
public final class Gpt extends Module {
  public final GptConfig config;
  public final Embedding wte;
  public final Embedding wpe;
  public final Block[] h;
  public final LayerNorm lnF;
  private final DType dtype;

  private Gpt(GptConfig config, Map<String, Tensor> w) {
    this.config = config;
    this.dtype = w.get("wte.weight").dtype();
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
    Map<String, Tensor> w = new LinkedHashMap<>();
    double residualStd = 0.02 / Math.sqrt(2.0 * config.nLayer());
    for (Map.Entry<String, int[]> e : config.parameterShapes().entrySet()) {
      String name = e.getKey();
      int[] s = e.getValue();
      Tensor t;
      if (name.contains("ln_") && name.endsWith(".weight")) {
        t = Tensor.ones(dtype, s);
      } else if (name.endsWith(".bias")) {
        t = Tensor.zeros(dtype, s);
      } else {
        t = Tensor.normal(rng, dtype, 0, name.endsWith("c_proj.weight") ? residualStd : 0.02, s);
      }
      w.put(name, t);
    }
    return new Gpt(config, w);
  }

  /**
   * A model from named weights (checkpoint names, exact shapes, one dtype). Every parameter must
   * be present with its shape; nothing is built otherwise.
   */
  public static Gpt fromWeights(GptConfig config, Map<String, Tensor> weights) {
    DType dt = null;
    for (Map.Entry<String, int[]> e : config.parameterShapes().entrySet()) {
      Tensor t = weights.get(e.getKey());
      if (t == null) {
        throw new IllegalArgumentException("missing tensor '" + e.getKey() + "'");
      }
      if (!Arrays.equals(t.shape(), e.getValue())) {
        throw new IllegalArgumentException("tensor '" + e.getKey() + "' has shape "
            + Arrays.toString(t.shape()) + ", but the config needs " + Arrays.toString(e.getValue()));
      }
      if (dt != null && t.dtype() != dt) {
        throw new IllegalArgumentException("tensor '" + e.getKey() + "' is " + t.dtype()
            + " while others are " + dt);
      }
      dt = t.dtype();
    }
    return new Gpt(config, weights);
  }

  public DType dtype() {
    return dtype;
  }

  /** A copy of every weight in another dtype (or the same, as an independent copy). */
  public Gpt copy(DType target) {
    Map<String, Tensor> w = new LinkedHashMap<>();
    namedParameters().forEach((n, v) -> w.put(n, v.value().to(target).copy()));
    return new Gpt(config, w);
  }

  /** Overwrites this model's weights with another's (same config), in place. */
  public void copyWeightsFrom(Gpt other) {
    Map<String, Variable> src = other.namedParameters();
    namedParameters().forEach((n, v) -> v.value().assign(src.get(n).value()));
  }

  /** A KV cache for {@code B} sequences of up to {@code capacity} positions. */
  public KvCache newCache(int B, int capacity) {
    if (capacity > config.nPositions()) {
      throw new IllegalArgumentException("KV cache capacity " + capacity
          + " exceeds n_positions " + config.nPositions());
    }
    return new KvCache(config.nLayer(), B, config.nHead(), capacity, config.headSize(), dtype);
  }

  /** Logits (B, T, V) for token ids (B*T, row-major), all real, positions 0..T-1. */
  /**
   * One block of a forward without a graph (teacher scoring, sampling, validation): inside a
   * workspace its intermediate buffers go back to the pool as soon as it ends and only its output
   * stays, copied into the caller's scope, so such a forward holds one block's buffers at a time
   * instead of every block's (the numbers are the same: the output is an exact copy).
   */
  private static Variable withoutGraph(Block b, Variable x, Tensor keyMask, KvCache cache) {
    if (!org.sdpo.tensor.Workspace.inScope()) {
      return b.forward(x, keyMask, cache);
    }
    Tensor out = Tensor.empty(x.value().dtype(), x.shape()); // (B, T, C), in the caller's scope
    try (org.sdpo.tensor.Workspace.Scope s = org.sdpo.tensor.Workspace.nested()) {
      out.assign(b.forward(x, keyMask, cache).value());
    }
    return Variable.constant(out);
  }

  public Variable forward(int[] ids, int B, int T) {
    return forward(ids, B, T, null, null, null);
  }

  /**
   * Logits (B, T, V).
   *
   * @param ids token ids, B*T of them, row-major
   * @param attentionMask (B, T): 1 for a real token, 0 for padding; null means all real
   * @param positionIds B*T position ids; null means 0..T-1 (after the cached positions)
   * @param cache if not null, the new positions attend to the cached ones and are appended
   */
  public Variable forward(int[] ids, int B, int T, Tensor attentionMask, int[] positionIds,
      KvCache cache) {
    if (ids.length != B * T) {
      throw new IllegalArgumentException("forward: " + ids.length + " token ids for B=" + B
          + ", T=" + T);
    }
    int offset = cache == null ? 0 : cache.length();
    int[] pos = positionIds;
    if (pos == null) {
      pos = new int[B * T];
      for (int i = 0; i < pos.length; i++) {
        pos[i] = offset + i % T;
      }
    } else if (pos.length != B * T) {
      throw new IllegalArgumentException("forward: " + pos.length + " position ids for B=" + B
          + ", T=" + T);
    }
    for (int i = 0; i < ids.length; i++) {
      if (ids[i] < 0 || ids[i] >= config.vocabSize()) {
        throw new IllegalArgumentException("forward: token id " + ids[i] + " at position " + i
            + " is outside the vocabulary [0, " + config.vocabSize() + ")");
      }
      if (pos[i] < 0 || pos[i] >= config.nPositions()) {
        throw new IllegalArgumentException("forward: position id " + pos[i] + " at position " + i
            + " is outside [0, n_positions=" + config.nPositions() + ")");
      }
    }
    if (attentionMask != null && (attentionMask.rank() != 2 || attentionMask.dim(0) != B
        || attentionMask.dim(1) != T)) {
      throw new IllegalArgumentException("forward: attention mask must be (B, T) = [" + B + ", "
          + T + "], got " + Arrays.toString(attentionMask.shape()));
    }
    Tensor keyMask = attentionMask == null ? null : attentionMask.to(dtype);
    if (cache != null) {
      if (cache.length() + T > cache.capacity()) {
        throw new IllegalArgumentException("forward: " + cache.length() + " cached + " + T
            + " new positions exceed the cache capacity " + cache.capacity());
      }
      keyMask = cache.appendMask(keyMask == null ? Tensor.ones(dtype, B, T) : keyMask, T);
    }
    Variable x = F.add(wte.forward(ids, B, T), wpe.forward(pos, B, T)); // (B, T, C)
    for (Block b : h) {
      x = Grad.isEnabled() ? b.forward(x, keyMask, cache) : withoutGraph(b, x, keyMask, cache);
    }
    if (cache != null) {
      cache.advance(T);
    }
    x = lnF.forward(x); // (B, T, C)
    Variable logits = F.matmul(F.reshape(x, B * T, config.nEmbd()), wte.weight, false, true);
    return F.reshape(logits, B, T, config.vocabSize()); // (B, T, V), head tied to wte
  }
}
