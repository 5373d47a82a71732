package org.sdpo.transformer;

import java.util.Arrays;
import java.util.Map;
import java.util.function.UnaryOperator;
import org.sdpo.autograd.F;
import org.sdpo.autograd.Grad;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.DType;
import org.sdpo.tensor.Rng;
import org.sdpo.tensor.Tensor;
import org.sdpo.tensor.Workspace;
import org.sdpo.transformer.nn.KvCache;
import org.sdpo.transformer.nn.Module;

/**
 * A decoder-only language model: token ids in, next-token logits out, with padding masks,
 * explicit position ids and a KV cache. The architectures ({@link Gpt} for GPT-2, {@link Llama}
 * for Llama, Mistral, Qwen2 and Qwen3, {@link Gemma3}) differ only in what happens between the
 * ids and the logits; the checks on the inputs, the cache and copying are here, once.
 */
public abstract class CausalLm extends Module {
  protected final DType dtype;

  protected CausalLm(DType dtype) {
    this.dtype = dtype;
  }

  /**
   * Checks that {@code weights} hold every parameter of {@code config} with its shape, all of one
   * dtype, before a model is built from them.
   */
  protected static void checkWeights(ModelConfig config, Map<String, Tensor> weights) {
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
  }

  /**
   * Fresh weights for every parameter of {@code config}, in checkpoint order (so the draws from
   * {@code rng} come in that order): scales ({@code isScale}) 1, biases 0, every other tensor
   * normal(0, {@code std(name)}).
   */
  protected static Map<String, Tensor> initialWeights(ModelConfig config, DType dtype, Rng rng,
      java.util.function.Predicate<String> isScale,
      java.util.function.ToDoubleFunction<String> std) {
    Map<String, Tensor> w = new java.util.LinkedHashMap<>();
    config.parameterShapes().forEach((name, s) -> w.put(name, isScale.test(name)
        ? Tensor.ones(dtype, s) : name.endsWith(".bias") ? Tensor.zeros(dtype, s)
        : Tensor.normal(rng, dtype, 0, std.applyAsDouble(name), s)));
    return w;
  }

  /** The model's sizes and names. */
  public abstract ModelConfig config();

  public DType dtype() {
    return dtype;
  }

  /** A copy of every weight in another dtype (or the same, as an independent copy). */
  public CausalLm copy(DType target) {
    Map<String, Tensor> w = new java.util.LinkedHashMap<>();
    namedParameters().forEach((n, v) -> w.put(n, v.value().to(target).copy()));
    return withWeights(w);
  }

  /** A model of this architecture and config with the given (checked) weights. */
  protected abstract CausalLm withWeights(Map<String, Tensor> weights);

  /** Overwrites this model's weights with another's (same config), in place. */
  public void copyWeightsFrom(CausalLm other) {
    Map<String, Variable> src = other.namedParameters();
    namedParameters().forEach((n, v) -> v.value().assign(src.get(n).value()));
  }

  /** A KV cache for {@code B} sequences of up to {@code capacity} positions. */
  public KvCache newCache(int B, int capacity) {
    ModelConfig c = config();
    if (capacity > c.nPositions()) {
      throw new IllegalArgumentException("KV cache capacity " + capacity
          + " exceeds the model's context (" + c.nPositionsKey() + " = " + c.nPositions() + ")");
    }
    return new KvCache(c.nLayer(), B, c.kvHeads(), capacity, c.headDim(), dtype);
  }

  /** Logits (B, T, V) for token ids (B*T, row-major), all real, positions 0..T-1. */
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
    Inputs in = inputs(ids, B, T, attentionMask, positionIds, cache);
    return logits(ids, in.pos(), B, T, in.keyMask(), cache);
  }

  /**
   * The last hidden states (B, T, C), after the final norm: what the head turns into logits
   * ({@code forward} = {@link #head} of these). For losses that need the logits of a few rows, or
   * of many rows a chunk at a time (SDPO's update at a large vocabulary), without the (B, T, V)
   * logits of every position. Arguments as {@link #forward}, without a cache.
   */
  public Variable forwardHidden(int[] ids, int B, int T, Tensor attentionMask,
      int[] positionIds) {
    return forwardHidden(ids, B, T, attentionMask, positionIds, null);
  }

  /** The same with a KV cache, as {@link #forward} takes one (a prompt's pass before decoding). */
  public Variable forwardHidden(int[] ids, int B, int T, Tensor attentionMask, int[] positionIds,
      KvCache cache) {
    Inputs in = inputs(ids, B, T, attentionMask, positionIds, cache);
    return hidden(ids, in.pos(), B, T, in.keyMask(), cache);
  }

  /** Logits (M, V) of hidden states (M, C): the product with {@link #headWeight()} transposed. */
  public Variable head(Variable x) {
    return F.matmul(x, headWeight(), false, true);
  }

  /** The LM head's weight (V, C): its own, or the token embedding where the two are tied. */
  public abstract Variable headWeight();

  /** Validated position ids and the key mask over every key (with a cache: its whole capacity). */
  private record Inputs(int[] pos, Tensor keyMask) {}

  private Inputs inputs(int[] ids, int B, int T, Tensor attentionMask, int[] positionIds,
      KvCache cache) {
    ModelConfig c = config();
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
      if (ids[i] < 0 || ids[i] >= c.vocabSize()) {
        throw new IllegalArgumentException("forward: token id " + ids[i] + " at position " + i
            + " is outside the vocabulary [0, " + c.vocabSize() + ")");
      }
      if (pos[i] < 0 || pos[i] >= c.nPositions()) {
        throw new IllegalArgumentException("forward: position id " + pos[i] + " at position " + i
            + " is outside [0, " + c.nPositionsKey() + "=" + c.nPositions() + ")");
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
    return new Inputs(pos, keyMask);
  }

  /**
   * Whether a one-token decode step with a KV cache reads nothing from the host but its ids,
   * position ids and the cache's length, so a GPU can record it once and replay it (a CUDA graph;
   * the sampler does). False by default: an architecture that computed anything from positions
   * on the host would copy it to the device in every step.
   */
  public boolean recordableDecode() {
    return false;
  }

  /**
   * The architecture's forward on validated inputs up to its last hidden states (B, T, C), after
   * the final norm. {@code keyMask} is null or (B, Tk) over every key (the cache's whole capacity
   * when there is a cache); the implementation advances the cache after its last layer.
   */
  protected abstract Variable hidden(int[] ids, int[] pos, int B, int T, Tensor keyMask,
      KvCache cache);

  /** Logits (B, T, V): the hidden states times the head. */
  private Variable logits(int[] ids, int[] pos, int B, int T, Tensor keyMask, KvCache cache) {
    Variable x = hidden(ids, pos, B, T, keyMask, cache); // (B, T, C)
    ModelConfig c = config();
    Variable logits = head(F.reshape(x, B * T, x.dim(2))); // (B T, V)
    return F.reshape(logits, B, T, c.vocabSize()); // (B, T, V)
  }

  /**
   * Runs one block. Without a graph (teacher scoring, sampling, validation) inside a workspace,
   * the block's intermediate buffers go back to the pool as soon as it ends and only its output
   * stays, copied into the caller's scope, so such a forward holds one block's buffers at a time
   * instead of every block's (the numbers are the same: the output is an exact copy).
   */
  protected static Variable block(UnaryOperator<Variable> block, Variable x) {
    if (Grad.isEnabled() || !Workspace.inScope()) {
      return block.apply(x);
    }
    Tensor out = Tensor.empty(x.value().dtype(), x.shape()); // (B, T, C), in the caller's scope
    try (Workspace.Scope s = Workspace.nested()) {
      out.assign(block.apply(x).value());
    }
    return Variable.constant(out);
  }
}
