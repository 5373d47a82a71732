package org.sdpo.tensor.cuda;

import java.lang.ref.Cleaner;
import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Map;

/**
 * The backend's device memory: an arena of large chunks (64 MiB, or one block's size if larger)
 * carved into blocks of a few size classes, which go on free lists when their tensors are gone
 * and are handed out again. The driver's allocator (slow, and it synchronises the device) runs
 * once per chunk, and a steady training step (whose tensors the {@code Workspace} recycles
 * anyway) takes every block from a free list. A block returns to its list when the last storage
 * viewing it becomes unreachable ({@link Cleaner}); all work runs on one stream in order, so a
 * block reused while earlier kernels still read it is written only after they ran.
 */
final class DevicePool {
  private static final Cleaner CLEANER = Cleaner.create();
  private final CudaDriver dev;
  static final long CHUNK = 64L << 20;
  private final Map<Long, ArrayDeque<Long>> free = new HashMap<>();
  private long chunkNext; // the next free byte of the current chunk
  private long chunkEnd;
  private long reserved;
  private long inUse;
  private int chunks;
  /**
   * While a step is being recorded: the blocks given back meanwhile, kept off the free lists (a
   * replay of the recorded step writes them again, so nothing else may have them) until the
   * recorded step is closed.
   */
  private java.util.List<long[]> held;
  /** Told a block's address when its tensors are gone, before the block can be handed out again. */
  private volatile java.util.function.LongConsumer onRelease;

  DevicePool(CudaDriver dev) {
    this.dev = dev;
  }

  /**
   * Sets what is told a tensor block's address when the block returns to the pool, before it can
   * be handed out again (the bf16 cast cache forgets the block's copies). Called on the cleaner's
   * thread.
   */
  void onRelease(java.util.function.LongConsumer listener) {
    this.onRelease = listener;
  }

  /** Device memory a tensor or a kernel's scratch lives in. */
  static final class Block {
    final long address;
    final long bytes;
    /**
     * Bumped each time the backend hands out the block's address for a kernel, a copy or a
     * multiply (which may write it): a copy of its values made at one version is still valid at
     * the same version. Only the backend's thread touches it.
     */
    long version;

    Block(long address, long bytes) {
      this.address = address;
      this.bytes = bytes;
    }
  }

  /** Sizes rounded up to 512 bytes up to 1 MiB, to a quarter of their power of two above. */
  static long sizeClass(long bytes) {
    long b = Math.max(bytes, 1);
    if (b <= (1 << 20)) {
      return (b + 511) / 512 * 512;
    }
    long step = Long.highestOneBit(b - 1) / 4;
    return (b + step - 1) / step * step;
  }

  /** A block of at least {@code bytes}, returned to the pool when it becomes unreachable. */
  Block take(long bytes) {
    long size = sizeClass(bytes);
    long address = pop(size);
    Block b = new Block(address, size);
    CLEANER.register(b, () -> returned(address, size));
    return b;
  }

  /** A tensor block's return: its listener first, then its free list. */
  private void returned(long address, long size) {
    java.util.function.LongConsumer l = onRelease;
    if (l != null) {
      l.accept(address);
    }
    give(address, size);
  }

  /** Scratch memory the caller gives back itself with {@link #give}. */
  long takeScratch(long bytes) {
    return pop(sizeClass(bytes));
  }

  private synchronized long pop(long size) {
    ArrayDeque<Long> list = free.get(size);
    inUse += size;
    if (list != null && !list.isEmpty()) {
      return list.pop();
    }
    if (chunkEnd - chunkNext < size) {
      long bytes = Math.max(CHUNK, size);
      chunkNext = dev.alloc(bytes);
      chunkEnd = chunkNext + bytes;
      reserved += bytes;
      chunks++;
    }
    long at = chunkNext;
    chunkNext += size; // size classes are multiples of 512 bytes: blocks stay 512-aligned
    dev.carved(at, size);
    return at;
  }

  /** Returns a block of {@code sizeClass(bytes)} at {@code address} to its free list. */
  synchronized void give(long address, long bytes) {
    long size = sizeClass(bytes);
    if (held != null) {
      held.add(new long[] {address, size});
      return;
    }
    inUse -= size;
    free.computeIfAbsent(size, k -> new ArrayDeque<>()).push(address);
  }

  /** Starts keeping the blocks given back (a step is being recorded). */
  synchronized void hold() {
    if (held != null) {
      throw new IllegalStateException("a step is already being recorded");
    }
    held = new java.util.ArrayList<>();
  }

  /** Stops keeping them and returns those kept: they belong to the recorded step. */
  synchronized java.util.List<long[]> endHold() {
    java.util.List<long[]> h = held;
    held = null;
    return h;
  }

  /** Gives back the blocks {@link #endHold} returned (the recorded step is closed). */
  synchronized void release(java.util.List<long[]> blocks) {
    for (long[] b : blocks) {
      give(b[0], b[1]);
    }
  }

  /** Allocations asked of the driver so far. */
  synchronized int chunks() {
    return chunks;
  }

  /** Bytes held from the driver (in use, on a free list, or not yet carved). */
  synchronized long reserved() {
    return reserved;
  }

  /** Bytes held by live tensors and scratch. */
  synchronized long inUse() {
    return inUse;
  }
}
