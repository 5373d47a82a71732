package org.sdpo.tensor.cuda;

import java.lang.ref.WeakReference;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The bf16 mode's copies of float32 matrix operands, kept while their tensors are unchanged, so
 * that a tensor is rounded to bfloat16 once and not once per multiply it enters.
 *
 * <p>A training step multiplies most tensors twice or more: a linear layer's input X and weight W
 * in the forward pass (Y = X W) and again in the backward pass (dX = dY W^T, dW = X^T dY), where
 * the upstream gradient dY enters two products. Without the cache each of the six operands is
 * cast by its own kernel; with it, three casts serve the six.
 *
 * <p><b>When a copy is valid.</b> The backend bumps a block's {@code version} every time it hands
 * out the block's address for a kernel, a copy or a multiply (any of which may write it), except
 * to the casts themselves. A copy made at version v of a view (its first element's address,
 * shape and strides) is used only while the block is at v; else it is cast again. A recorded
 * step's replay writes memory no Java code sees, so the backend empties the cache before each
 * replay and around each recording (what a recording found in the cache must come from the
 * recording itself). A block whose tensors are gone is forgotten before its memory can be handed
 * out again (the pool's cleaner tells the cache).
 *
 * <p><b>Memory.</b> Copies live in pool scratch, at most {@code budget} bytes, least recently used
 * first out ({@code SDPO_CUDA_CAST_CACHE_MB}). Evictions happen in {@link #trim}, after the
 * multiply that needed the copies was launched, so a multiply's two operands never push each
 * other out.
 */
final class CastCache {
  /**
   * Default budget: an eighth of the device's memory, at most 8 GiB (GPT-2 124M at batch 8 x 1024
   * in the probabilities' path keeps about 4.2 GB of copies from its forward pass for its
   * backward pass), and 4 GiB where the device's size is unknown.
   */
  static long defaultBudgetBytes(long deviceBytes) {
    return deviceBytes > 0 ? Math.min(deviceBytes / 8, 8L << 30) : 4L << 30;
  }

  /** A view: the address of element 0, its shape and strides (in elements). */
  private static final class Key {
    final long address;
    final int[] shape;
    final int[] strides;

    Key(long address, int[] shape, int[] strides) {
      this.address = address;
      this.shape = shape.clone();
      this.strides = strides.clone();
    }

    @Override
    public boolean equals(Object o) {
      return o instanceof Key k && k.address == address && Arrays.equals(k.shape, shape)
          && Arrays.equals(k.strides, strides);
    }

    @Override
    public int hashCode() {
      return Long.hashCode(address) * 31 + Arrays.hashCode(shape) * 17 + Arrays.hashCode(strides);
    }
  }

  /** A copy: the block it was made from at which version, and its scratch memory. */
  private record Entry(Key key, WeakReference<DevicePool.Block> block, long blockAddress,
      long version, long copy, long bytes) {}

  private final DevicePool pool;
  private final long budget;
  private final LinkedHashMap<Key, Entry> entries = new LinkedHashMap<>(64, 0.75f, true);
  private final Map<Long, List<Key>> byBlock = new HashMap<>();
  private long bytes;
  private long made;
  private long reused;
  private long elementsMade;
  private long elementsReused;

  CastCache(DevicePool pool, long budgetBytes) {
    this.pool = pool;
    this.budget = budgetBytes;
  }

  /**
   * The budget asked for by {@code SDPO_CUDA_CAST_CACHE_MB} / {@code -Dsdpo.cuda.castCacheMb}, or
   * the default for a device of {@code deviceBytes} (0: unknown).
   */
  static long configuredBudgetBytes(long deviceBytes) {
    long asked = CudaOptions.mebibytes("sdpo.cuda.castCacheMb", "SDPO_CUDA_CAST_CACHE_MB",
        " (0 turns the bf16 cast cache off)");
    return asked >= 0 ? asked : defaultBudgetBytes(deviceBytes);
  }

  /** Whether copies are kept at all (a budget of 0 turns the cache off). */
  boolean enabled() {
    return budget > 0;
  }

  long budgetBytes() {
    return budget;
  }

  /**
   * The copy of the view (element 0 at {@code address}, {@code shape}, {@code strides}) of
   * {@code block} made at its current version, or 0; a copy made at another version is dropped.
   */
  synchronized long find(DevicePool.Block block, long address, int[] shape, int[] strides,
      long elements) {
    Key k = new Key(address, shape, strides);
    Entry e = entries.get(k);
    if (e == null) {
      return 0;
    }
    if (e.block().get() != block || e.version() != block.version) {
      drop(e);
      return 0;
    }
    reused++;
    elementsReused += elements;
    return e.copy();
  }

  /** Keeps {@code copy} (pool scratch of {@code copyBytes}) as the view's copy at this version. */
  synchronized void add(DevicePool.Block block, long address, int[] shape, int[] strides,
      long copy, long copyBytes, long elements) {
    Key k = new Key(address, shape, strides);
    Entry old = entries.get(k);
    if (old != null) {
      drop(old);
    }
    Entry e = new Entry(k, new WeakReference<>(block), block.address, block.version, copy,
        copyBytes);
    entries.put(k, e);
    byBlock.computeIfAbsent(block.address, a -> new ArrayList<>(2)).add(k);
    bytes += copyBytes;
    made++;
    elementsMade += elements;
  }

  /** Gives back the least recently used copies until the cache is within its budget. */
  synchronized void trim() {
    Iterator<Entry> it = entries.values().iterator();
    while (bytes > budget && it.hasNext()) {
      Entry e = it.next();
      it.remove();
      unindex(e);
      release(e);
    }
  }

  /** Forgets the copies of the block at {@code blockAddress}: its tensors are gone. */
  synchronized void forgetBlock(long blockAddress) {
    List<Key> keys = byBlock.remove(blockAddress);
    if (keys == null) {
      return;
    }
    for (Key k : keys) {
      Entry e = entries.remove(k);
      if (e != null) {
        release(e);
      }
    }
  }

  /** Gives back every copy. */
  synchronized void clear() {
    for (Entry e : entries.values()) {
      release(e);
    }
    entries.clear();
    byBlock.clear();
  }

  synchronized CudaBackend.CastStats stats() {
    return new CudaBackend.CastStats(made, reused, elementsMade, elementsReused, bytes);
  }

  private void drop(Entry e) {
    entries.remove(e.key());
    unindex(e);
    release(e);
  }

  private void unindex(Entry e) {
    List<Key> keys = byBlock.get(e.blockAddress());
    if (keys != null) {
      keys.remove(e.key());
      if (keys.isEmpty()) {
        byBlock.remove(e.blockAddress());
      }
    }
  }

  private void release(Entry e) {
    bytes -= e.bytes();
    pool.give(e.copy(), e.bytes());
  }
}
