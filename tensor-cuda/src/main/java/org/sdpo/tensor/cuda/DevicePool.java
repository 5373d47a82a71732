package org.sdpo.tensor.cuda;

import java.lang.ref.Cleaner;
import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Map;
import org.sdpo.tensor.DeviceOutOfMemoryException;
import org.sdpo.tensor.MemoryStats;

/**
 * The backend's device memory: an arena of large chunks (64 MiB, or one block's size if larger:
 * such a block has its chunk to itself, and the 64 MiB chunk being carved stays as it was)
 * carved into blocks of a few size classes, which go on free lists when their tensors are gone
 * and are handed out again. The driver's allocator (slow, and it synchronises the device) runs
 * once per chunk, and a steady training step (whose tensors the {@code Workspace} recycles
 * anyway) takes every block from a free list. A block returns to its list when the last storage
 * viewing it becomes unreachable ({@link Cleaner}); all work runs on one stream in order, so a
 * block reused while earlier kernels still read it is written only after they ran.
 *
 * <p>When the device is full, the pool gives back to the driver the chunks none of whose blocks
 * is in use (a large tensor's own chunk, once the tensor is gone), then lets the collector find
 * the tensors that are unreachable but not yet collected and does it again, then hands out a
 * larger free block whole, before it fails with a message that says how its memory is held.
 */
final class DevicePool {
  private static final Cleaner CLEANER = Cleaner.create();
  private final CudaDriver dev;
  static final long CHUNK = 64L << 20;
  private final Map<Long, ArrayDeque<Long>> free = new HashMap<>();
  /** Blocks handed out from a larger size class than asked (a full device): their own class. */
  private final Map<Long, Long> oversized = new HashMap<>();
  /** Each chunk's start: {its bytes, its blocks handed out and not yet back on a free list}. */
  private final java.util.TreeMap<Long, long[]> chunkInfo = new java.util.TreeMap<>();
  private long chunkNext; // the next free byte of the current chunk
  private long chunkEnd;
  private long reserved;
  private long inUse;
  private long peakReserved;
  private long peakInUse;
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

  /** The largest size class of at most {@code bytes}, or 0 below 512 bytes. */
  static long floorClass(long bytes) {
    if (bytes < 512) {
      return 0;
    }
    if (bytes <= (1 << 20)) {
      return bytes / 512 * 512;
    }
    long p = Long.highestOneBit(bytes); // the classes above p step by p / 4 up to 2 p
    long step = p / 4;
    return p + (bytes - p) / step * step;
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

  /**
   * A block of {@code size} (a size class): from its free list, else carved from the current
   * chunk, else from a new chunk. When the device is full: the chunks no block uses go back to
   * the driver and the pool tries again; then the collector runs, the cleaner returns the blocks
   * of the tensors that were unreachable but not yet collected, the chunks that freed go back,
   * and the pool tries once more; last, a larger free block, whole. Then it says how the memory
   * is held.
   */
  private long pop(long size) {
    long at = popOrZero(size);
    if (at == 0 && releaseFreeChunks() > 0) {
      at = popOrZero(size);
    }
    if (at == 0) {
      collectUnreachable();
      releaseFreeChunks();
      at = popOrZero(size);
    }
    if (at == 0) {
      at = popLarger(size);
    }
    if (at == 0) {
      throw new DeviceOutOfMemoryException(outOfMemory(size));
    }
    return at;
  }

  /** {@link #popOrAllocate}, or 0 when the device is full (no block lies at address 0). */
  private long popOrZero(long size) {
    try {
      return popOrAllocate(size);
    } catch (DeviceOutOfMemoryException full) {
      return 0;
    }
  }

  /**
   * The last resort of a full device: a free block of the smallest larger size class that has
   * one, handed out whole (its extra bytes unused until it is back), or 0 if there is none. It
   * returns to its own class's list, whatever size the caller gives back.
   */
  private synchronized long popLarger(long size) {
    long best = Long.MAX_VALUE;
    for (Map.Entry<Long, ArrayDeque<Long>> e : free.entrySet()) {
      if (e.getKey() > size && e.getKey() < best && !e.getValue().isEmpty()) {
        best = e.getKey();
      }
    }
    if (best == Long.MAX_VALUE) {
      return 0;
    }
    long at = free.get(best).pop();
    oversized.put(at, best);
    handedOut(at, best);
    return at;
  }

  /**
   * Gives back to the driver every chunk none of whose blocks is in use, taking its blocks off
   * the free lists; not while a step is recorded (the driver may not free memory then). Returns
   * the bytes given back.
   */
  synchronized long releaseFreeChunks() {
    if (held != null) {
      return 0;
    }
    java.util.TreeMap<Long, Long> gone = new java.util.TreeMap<>(); // start -> bytes
    chunkInfo.forEach((start, c) -> {
      if (c[1] == 0) {
        gone.put(start, c[0]);
      }
    });
    if (gone.isEmpty()) {
      return 0;
    }
    for (ArrayDeque<Long> list : free.values()) {
      list.removeIf(a -> {
        Map.Entry<Long, Long> g = gone.floorEntry(a);
        return g != null && a < g.getKey() + g.getValue();
      });
    }
    free.values().removeIf(ArrayDeque::isEmpty);
    long bytes = 0;
    for (Map.Entry<Long, Long> g : gone.entrySet()) {
      chunkInfo.remove(g.getKey());
      dev.free(g.getKey()); // cuMemFree waits for the work queued before it
      reserved -= g.getValue();
      bytes += g.getValue();
      if (chunkEnd == g.getKey() + g.getValue()) { // the chunk being carved
        chunkNext = 0;
        chunkEnd = 0;
      }
    }
    return bytes;
  }

  /**
   * Runs the collector and waits (a second at most) until the cleaner has returned the blocks of
   * the tensors it found unreachable: until the bytes in use stop falling. Holds no lock meanwhile
   * (the cleaner's returns take this pool's).
   */
  private void collectUnreachable() {
    long last = inUse();
    System.gc();
    for (int i = 0, still = 0; i < 100 && still < 3; i++) {
      try {
        Thread.sleep(10);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return;
      }
      long now = inUse();
      still = now < last ? 0 : still + 1;
      last = now;
    }
  }

  /** The one-line message of a failed allocation: what was asked and how memory is held. */
  private synchronized String outOfMemory(long size) {
    long total = dev.totalMemory();
    return "CUDA out of memory: " + MemoryStats.describe(Math.max(CHUNK, size)) + " more asked of "
        + "the driver (for a block of " + (size < 1_000_000 ? size + " bytes"
            : MemoryStats.describe(size)) + "); this process holds "
        + MemoryStats.describe(reserved) + " of device memory"
        + (total > 0 ? " of the device's " + MemoryStats.describe(total) : "") + ": "
        + MemoryStats.describe(inUse) + " in tensors, scratch and cached copies, "
        + MemoryStats.describe(reserved - inUse) + " free in blocks of other sizes";
  }

  private synchronized long popOrAllocate(long size) {
    ArrayDeque<Long> list = free.get(size);
    if (list != null && !list.isEmpty()) {
      long at = list.pop();
      handedOut(at, size);
      return at;
    }
    if (size > CHUNK) { // a chunk of its own; the chunk being carved stays for small blocks
      long start = newChunk(size);
      dev.carved(start, size);
      handedOut(start, size);
      return start;
    }
    if (chunkEnd - chunkNext < size) {
      long start = newChunk(CHUNK);
      // the old chunk's end, too short for this block: one free block of the largest class
      // that fits (at least three quarters of it), where a later block of that class finds it
      long tail = floorClass(chunkEnd - chunkNext);
      if (tail > 0) {
        dev.carved(chunkNext, tail);
        free.computeIfAbsent(tail, k -> new ArrayDeque<>()).push(chunkNext);
      }
      chunkNext = start;
      chunkEnd = start + CHUNK;
    }
    long at = chunkNext;
    chunkNext += size; // size classes are multiples of 512 bytes: blocks stay 512-aligned
    dev.carved(at, size);
    handedOut(at, size);
    return at;
  }

  /** A new chunk of {@code bytes} from the driver; may throw, and nothing has changed then. */
  private long newChunk(long bytes) {
    long start = dev.alloc(bytes);
    chunkInfo.put(start, new long[] {bytes, 0});
    reserved += bytes;
    peakReserved = Math.max(peakReserved, reserved);
    chunks++;
    return start;
  }

  private void handedOut(long at, long size) {
    inUse += size;
    peakInUse = Math.max(peakInUse, inUse);
    chunkInfo.floorEntry(at).getValue()[1]++;
  }

  /** Returns a block of {@code sizeClass(bytes)} at {@code address} to its free list. */
  synchronized void give(long address, long bytes) {
    Long own = oversized.isEmpty() ? null : oversized.remove(address);
    long size = own != null ? own : sizeClass(bytes);
    if (held != null) {
      held.add(new long[] {address, size});
      return;
    }
    inUse -= size;
    chunkInfo.floorEntry(address).getValue()[1]--;
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

  /** The most bytes {@link #inUse} has held since the pool began or {@link #resetPeaks}. */
  synchronized long peakInUse() {
    return peakInUse;
  }

  /** The most bytes {@link #reserved} has held since the pool began or {@link #resetPeaks}. */
  synchronized long peakReserved() {
    return peakReserved;
  }

  /** Starts both peaks again from what is held now. */
  synchronized void resetPeaks() {
    peakInUse = inUse;
    peakReserved = reserved;
  }
}
