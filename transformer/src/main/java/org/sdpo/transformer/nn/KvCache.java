package org.sdpo.transformer.nn;

import org.sdpo.autograd.F;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.DType;
import org.sdpo.tensor.Tensor;

/**
 * Keys and values of every layer for the positions decoded so far, so each new token attends to
 * the prefix without recomputing it. Preallocated for {@code capacity} positions: (B, H, capacity,
 * D) per layer, plus the key mask (B, capacity) (1 = real token, 0 = padding).
 */
public final class KvCache {
  private final Tensor[] keys;
  private final Tensor[] values;
  private final Tensor mask;
  private final int capacity;
  private int length;

  public KvCache(int layers, int B, int H, int capacity, int D, DType dtype) {
    keys = new Tensor[layers];
    values = new Tensor[layers];
    for (int l = 0; l < layers; l++) {
      keys[l] = Tensor.zeros(dtype, B, H, capacity, D);
      values[l] = Tensor.zeros(dtype, B, H, capacity, D);
    }
    mask = Tensor.zeros(dtype, B, capacity);
    this.capacity = capacity;
  }

  /** Positions filled so far. */
  public int length() {
    return length;
  }

  public int capacity() {
    return capacity;
  }

  void checkRoom(int n) {
    if (length + n > capacity) {
      throw new IllegalArgumentException("KV cache: " + length + " positions cached + " + n
          + " new exceed its capacity of " + capacity);
    }
  }

  /**
   * Stores the new tokens' key mask (B, n) and returns the mask of the whole cache (B, capacity):
   * positions not yet filled are 0, so attention over the whole cache ignores them.
   */
  public Tensor appendMask(Tensor newMask, int n) {
    checkRoom(n);
    mask.slice(1, length, length + n).assign(newMask);
    return mask;
  }

  /**
   * Stores layer {@code l}'s new keys (B, H, n, D) and returns the whole cache (B, H, capacity, D):
   * no copy of the prefix per step; the mask hides the unfilled tail.
   */
  Tensor appendKeys(int l, Tensor k) {
    keys[l].slice(2, length, length + k.dim(2)).assign(k);
    return keys[l];
  }

  /** Same for the values. */
  Tensor appendValues(int l, Tensor v) {
    values[l].slice(2, length, length + v.dim(2)).assign(v);
    return values[l];
  }

  /** Marks {@code n} more positions as filled (after every layer has appended). */
  public void advance(int n) {
    length += n;
  }

  /**
   * Causal attention of queries q (B, H, T, D) over keys and values k, v (B, Hkv, T, D), through
   * {@code cache} when it is not null: the new keys and values are stored in layer {@code l}'s
   * slots and the queries, at positions cache.length() onwards, attend to the whole cache (the
   * mask hides what is not filled). Returns (B, H, T, D).
   */
  public static Variable attend(Variable q,
      Variable k, Variable v, Tensor keyMask, KvCache cache,
      int l) {
    if (cache == null) {
      return F.attention(q, k, v, true, keyMask);
    }
    int offset = cache.length(); // the new queries' first position
    Variable ck = Variable.constant(
        cache.appendKeys(l, k.value())); // (B, Hkv, capacity, D)
    Variable cv = Variable.constant(
        cache.appendValues(l, v.value()));
    return F.attention(q, ck, cv, true, keyMask, offset);
  }
}
