package org.sdpo.transformer.nn;

import org.sdpo.autograd.F;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.Backends;
import org.sdpo.tensor.DType;
import org.sdpo.tensor.Indices;
import org.sdpo.tensor.Tensor;

/**
 * Keys and values of every layer for the positions decoded so far, so each new token attends to
 * the prefix without recomputing it. Preallocated for {@code capacity} positions: (B, H, capacity,
 * D) per layer, plus the key mask (B, capacity) (1 = real token, 0 = padding).
 *
 * <p>New keys, values and mask entries are written at the cache's length, which the copies read
 * as an index in the backend's memory ({@link Tensor#assignAt}) rather than as a slice fixed on
 * the host: a decode step recorded once (a CUDA graph) then writes at the right position on every
 * replay, the length being copied in again before each one.
 */
public final class KvCache {
  private final Tensor[] keys;
  private final Tensor[] values;
  private final Tensor mask;
  private final int capacity;
  private int length;
  private final int[] position = new int[1]; // the length when the step began: where it writes
  private Indices start; // position in the backend's memory, for the current step's writes

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
    position[0] = length;
    start = Backends.current().indices(position); // the step's write position, once per step
    mask.assignAt(1, start, newMask);
    return mask;
  }

  /**
   * Stores layer {@code l}'s new keys (B, H, n, D) and returns the whole cache (B, H, capacity, D):
   * no copy of the prefix per step; the mask hides the unfilled tail.
   */
  Tensor appendKeys(int l, Tensor k) {
    keys[l].assignAt(2, start, k);
    return keys[l];
  }

  /** Same for the values. */
  Tensor appendValues(int l, Tensor v) {
    values[l].assignAt(2, start, v);
    return values[l];
  }

  /** Marks {@code n} more positions as filled (after every layer has appended). */
  public void advance(int n) {
    length += n;
    position[0] = length; // what a recorded step's next replay writes at
  }

  /**
   * Forgets the positions from {@code newLength} on: their mask entries become 0 again. For a
   * decode step that was recorded (which advanced the cache without running) before its first
   * replay.
   */
  public void truncate(int newLength) {
    if (newLength < 0 || newLength > length) {
      throw new IllegalArgumentException("KV cache: cannot truncate " + length + " positions to "
          + newLength);
    }
    if (newLength < length) {
      mask.slice(1, newLength, length).fill(0);
    }
    length = newLength;
    position[0] = length;
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
    if (q.shape()[2] == 1) {
      // one query per row (decoding): the mask already hides every key after it (the unfilled
      // tail), so causality adds nothing, and no host offset is baked into a recorded step
      return F.attention(q, ck, cv, false, keyMask);
    }
    return F.attention(q, ck, cv, true, keyMask, offset);
  }
}
