package org.sdpo.tensor.cuda;

import java.lang.ref.Cleaner;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;
import org.sdpo.tensor.DeviceOutOfMemoryException;
import org.sdpo.tensor.MemoryStats;

/**
 * The backend's device memory: a caching allocator over chunks asked of the driver, best fit
 * with splitting and merging, as PyTorch's. Blocks of up to 1 MiB come from chunks of 2 MiB,
 * larger ones from chunks of 64 MiB (one block's size if larger), so that small long-lived
 * blocks do not pin the middle of the large ones' chunks. Every byte of a chunk lies in one piece,
 * handed out or free; a block is the smallest free piece that fits (the most recently freed
 * among equals, then the lowest address), split when the rest is worth keeping (any rest among small blocks, more than 1 MiB
 * among large ones), and a piece given back merges with its free neighbours. The driver's
 * allocator (slow, and it synchronises the device) runs once per chunk, and a steady training
 * step (whose tensors the {@code Workspace} recycles anyway) takes every block from free pieces.
 * A block returns when the last storage viewing it becomes unreachable ({@link Cleaner}); all
 * work runs on one stream in order, so a block reused while earlier kernels still read it is
 * written only after they ran.
 *
 * <p>When the device is full, the pool gives back to the driver the chunks none of whose blocks
 * is in use (a large tensor's own chunk, once the tensor is gone), then lets the collector find
 * the tensors that are unreachable but not yet collected and does it again, before it fails with
 * a message that says how its memory is held.
 */
final class DevicePool {
  private static final Cleaner CLEANER = Cleaner.create();
  private final CudaDriver dev;
  /** Blocks of at most this many bytes are small: they come from chunks of SMALL_CHUNK. */
  static final long SMALL = 1L << 20;
  static final long SMALL_CHUNK = 2L << 20;
  /** The chunk of larger blocks (a block larger than this has a chunk of its own size). */
  static final long CHUNK = 64L << 20;

  /** Part of a chunk, handed out or free; a chunk's pieces tile it. */
  private static final class Piece {
    final long chunk;
    final boolean small;
    final long start;
    long bytes;
    boolean free;
    /** When it became free (the pool's count of pieces freed); set only while off a free set. */
    long freedAt;

    Piece(long chunk, boolean small, long start, long bytes) {
      this.chunk = chunk;
      this.small = small;
      this.start = start;
      this.bytes = bytes;
      this.free = true;
    }
  }

  /**
   * Smallest first, then the most recently freed (a block of the shape just given back, whose
   * memory the caches may still hold: what a steady step asks for), then the lowest address.
   */
  private static final java.util.Comparator<Piece> BY_SIZE = java.util.Comparator
      .<Piece>comparingLong(p -> p.bytes).thenComparingLong(p -> -p.freedAt)
      .thenComparingLong(p -> p.start);
  /** Pieces freed so far: the clock of {@link Piece#freedAt}. */
  private long frees;
  /** Every piece of every chunk, by its start. */
  private final TreeMap<Long, Piece> pieces = new TreeMap<>();
  /** The free pieces of small and of large chunks (a piece's size changes only out of these). */
  private final TreeSet<Piece> freeSmall = new TreeSet<>(BY_SIZE);
  private final TreeSet<Piece> freeLarge = new TreeSet<>(BY_SIZE);
  /** Each chunk's start: {its bytes, its blocks handed out and not yet given back}. */
  private final TreeMap<Long, long[]> chunkInfo = new TreeMap<>();
  private long reserved;
  private long inUse;
  private long peakReserved;
  private long peakInUse;
  private int chunks;
  /**
   * While a step is being recorded: the blocks given back meanwhile, kept in use (a replay of the
   * recorded step writes them again, so nothing else may have them) until the recorded step is
   * closed.
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

  /**
   * Sizes rounded up to 512 bytes up to 1 MiB, to a quarter of their power of two above (few
   * distinct sizes, so a block given back fits the next of its shape exactly).
   */
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

  /** A tensor block's return: its listener first, then its piece is free. */
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
   * A block of {@code size} (a size class): the best-fitting free piece, else a new chunk. When
   * the device is full: the chunks no block uses go back to the driver and the pool tries again;
   * then the collector runs, the cleaner returns the blocks of the tensors that were unreachable
   * but not yet collected, the chunks that freed go back, and the pool tries once more. Then it
   * says how the memory is held.
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

  private synchronized long popOrAllocate(long size) {
    boolean small = size <= SMALL;
    TreeSet<Piece> free = small ? freeSmall : freeLarge;
    Piece probe = new Piece(0, small, Long.MIN_VALUE, size);
    probe.freedAt = Long.MAX_VALUE; // before every piece of its size
    Piece p = free.ceiling(probe);
    if (p != null) {
      free.remove(p);
    } else {
      long bytes = chunkFor(size);
      long start = newChunk(bytes);
      p = new Piece(start, small, start, bytes);
      pieces.put(start, p);
    }
    // the rest stays free where a later block can use it: any rest among small blocks (sizes
    // are multiples of 512 bytes, so blocks keep their chunk's alignment: cuMemAlloc's, at least
    // 256 bytes), more than 1 MiB among large ones
    // (less would serve no large block; it stays with this one until it is back)
    long rest = p.bytes - size;
    if (small ? rest > 0 : rest > SMALL) {
      Piece r = new Piece(p.chunk, small, p.start + size, rest);
      r.freedAt = p.freedAt;
      pieces.put(r.start, r);
      free.add(r);
      p.bytes = size;
    }
    p.free = false;
    dev.carved(p.start, p.bytes);
    inUse += p.bytes;
    peakInUse = Math.max(peakInUse, inUse);
    chunkInfo.get(p.chunk)[1]++;
    return p.start;
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

  /**
   * Gives back to the driver every chunk none of whose blocks is in use (its pieces merged into
   * one free piece); not while a step is recorded (the driver may not free memory then). Returns
   * the bytes given back.
   */
  synchronized long releaseFreeChunks() {
    if (held != null) {
      return 0;
    }
    long bytes = 0;
    for (java.util.Iterator<Map.Entry<Long, long[]>> it = chunkInfo.entrySet().iterator();
        it.hasNext(); ) {
      Map.Entry<Long, long[]> c = it.next();
      // the key and size first: TreeMap's remove may move another entry into c's node
      long start = c.getKey();
      long size = c.getValue()[0];
      if (c.getValue()[1] != 0) {
        continue;
      }
      Piece whole = pieces.remove(start);
      if (whole == null || !whole.free || whole.bytes != size) {
        throw new IllegalStateException("device pool: chunk " + Long.toHexString(start)
            + " has no block in use but is not one free piece");
      }
      (whole.small ? freeSmall : freeLarge).remove(whole);
      it.remove();
      dev.free(start); // cuMemFree waits for the work queued before it
      reserved -= size;
      bytes += size;
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
    // a small block is taken only from small chunks' pieces, a large one from large chunks'
    long largest = largest(size <= SMALL ? freeSmall : freeLarge);
    return "CUDA out of memory: " + MemoryStats.describe(chunkFor(size))
        + " more asked of the driver (for a block of " + describeBytes(size) + "); this process "
        + "holds " + MemoryStats.describe(reserved) + " of device memory"
        + (total > 0 ? " of the device's " + MemoryStats.describe(total) : "") + ": "
        + MemoryStats.describe(inUse) + " in tensors, scratch and cached copies, "
        + MemoryStats.describe(reserved - inUse) + " free in pieces it cannot use (the largest "
        + "that blocks of its size may take: " + describeBytes(largest) + ")";
  }

  /** Bytes below a megabyte exactly ("4096 bytes"), else as {@link MemoryStats#describe}. */
  private static String describeBytes(long bytes) {
    return bytes < 1_000_000 ? bytes + " bytes" : MemoryStats.describe(bytes);
  }

  /** The chunk a new block of {@code size} needs from the driver. */
  private static long chunkFor(long size) {
    return size <= SMALL ? SMALL_CHUNK : Math.max(CHUNK, size);
  }

  private static long largest(TreeSet<Piece> free) {
    return free.isEmpty() ? 0 : free.last().bytes;
  }

  /**
   * Gives back the block at {@code address}, taken for {@code bytes}: its piece is free and
   * merges with its free neighbours (or, while a step is recorded, it is kept for the step).
   */
  synchronized void give(long address, long bytes) {
    Piece p = pieces.get(address);
    if (p == null || p.free || sizeClass(bytes) > p.bytes) {
      throw new IllegalStateException("device pool: " + bytes + " bytes at "
          + Long.toHexString(address) + " given back, which is not a block handed out"
          + (p == null || p.free ? "" : " (it has " + p.bytes + ")"));
    }
    if (held != null) {
      held.add(new long[] {address, bytes});
      return;
    }
    inUse -= p.bytes;
    chunkInfo.get(p.chunk)[1]--;
    p.free = true;
    TreeSet<Piece> free = p.small ? freeSmall : freeLarge;
    Piece before = freeNeighbour(pieces.lowerEntry(p.start), p);
    if (before != null) {
      p = absorb(before, p, free);
    }
    Piece after = freeNeighbour(pieces.higherEntry(p.start), p);
    if (after != null) {
      absorb(p, after, free);
    }
    p.freedAt = ++frees;
    free.add(p);
  }

  /** The entry's piece when it is free and in p's chunk (where pieces tile it: p's neighbour). */
  private static Piece freeNeighbour(Map.Entry<Long, Piece> e, Piece p) {
    return e != null && e.getValue().free && e.getValue().chunk == p.chunk ? e.getValue() : null;
  }

  /** Merges {@code right} into {@code left}, the piece just before it: both off the free set. */
  private Piece absorb(Piece left, Piece right, TreeSet<Piece> free) {
    free.remove(left);
    free.remove(right);
    pieces.remove(right.start);
    left.bytes += right.bytes;
    return left;
  }

  /**
   * Checks the pool's bookkeeping (for tests): each chunk's pieces tile it, no two free pieces lie
   * side by side, the free sets hold exactly the free pieces, and the bytes and blocks in use are
   * those of the pieces handed out. Throws IllegalStateException naming the first fault.
   */
  synchronized void checkInvariants() {
    long used = 0;
    long reservedSeen = 0;
    int freeSeen = 0;
    for (Map.Entry<Long, long[]> c : chunkInfo.entrySet()) {
      long at = c.getKey();
      long end = at + c.getValue()[0];
      long live = 0;
      boolean lastFree = false;
      while (at < end) {
        Piece p = pieces.get(at);
        if (p == null || p.chunk != c.getKey() || p.bytes <= 0) {
          throw new IllegalStateException("device pool: no piece at " + Long.toHexString(at));
        }
        if (p.free) {
          if (lastFree) {
            throw new IllegalStateException("device pool: free pieces side by side at "
                + Long.toHexString(at));
          }
          if (!(p.small ? freeSmall : freeLarge).contains(p)) {
            throw new IllegalStateException("device pool: free piece at " + Long.toHexString(at)
                + " is not on its free set");
          }
          freeSeen++;
        } else {
          used += p.bytes;
          live++;
        }
        lastFree = p.free;
        at += p.bytes;
      }
      if (at != end || live != c.getValue()[1]) { // a block kept for a recorded step counts
        throw new IllegalStateException("device pool: chunk " + Long.toHexString(c.getKey())
            + " is not tiled by its pieces, or counts " + c.getValue()[1] + " blocks in use of "
            + live);
      }
      reservedSeen += c.getValue()[0];
    }
    if (freeSeen != freeSmall.size() + freeLarge.size() || reservedSeen != reserved
        || used != inUse) {
      throw new IllegalStateException("device pool: " + freeSeen + " free pieces against "
          + (freeSmall.size() + freeLarge.size()) + " on the free sets, " + used
          + " bytes handed out against " + inUse + " in use, " + reservedSeen + " in chunks against "
          + reserved + " reserved");
    }
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
