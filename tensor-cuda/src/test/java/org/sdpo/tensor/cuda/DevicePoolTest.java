package org.sdpo.tensor.cuda;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.sdpo.tensor.DeviceOutOfMemoryException;

/** The device pool's blocks: handed out once while alive, whichever thread gives them back. */
class DevicePoolTest {
  /**
   * Blocks return from the cleaner's thread while this thread takes others: no block may be
   * handed out while a live one holds it (a free list torn by the two threads would do that), and
   * the bytes in use end where the live blocks put them.
   */
  @Test
  void blocksReturnedByTheCleanerAreNeverHandedOutTwice() throws Exception {
    DevicePool pool = new DevicePool(new FakeDevice());
    List<DevicePool.Block> live = new ArrayList<>();
    Set<Long> liveAddresses = new HashSet<>();
    long[] sizes = {512, 1024, 4096};
    for (int round = 0; round < 400; round++) {
      for (int i = 0; i < 200; i++) {
        DevicePool.Block b = pool.take(sizes[i % sizes.length]);
        assertThat(liveAddresses.add(b.address)).as("round %d: block %d handed out twice", round,
            b.address).isTrue();
        live.add(b);
      }
      // drop all but the last few: the cleaner returns them while the next round takes
      for (DevicePool.Block b : live.subList(0, live.size() - 8)) {
        liveAddresses.remove(b.address);
      }
      live = new ArrayList<>(live.subList(live.size() - 8, live.size()));
      if (round % 10 == 0) {
        System.gc();
      }
    }
    long expected = 0;
    for (DevicePool.Block b : live) {
      expected += b.bytes;
    }
    // let the cleaner catch up with everything unreachable
    for (int i = 0; i < 50 && pool.inUse() != expected; i++) {
      System.gc();
      Thread.sleep(20);
    }
    assertThat(pool.inUse()).isEqualTo(expected);
    java.lang.ref.Reference.reachabilityFence(live);
  }

  private static final long MIB = 1L << 20;

  /** A device of 100 MiB: room for one of the large blocks below, not two. */
  private static DevicePool poolOf100MiB() {
    FakeDevice d = new FakeDevice();
    d.limitMemory(100 * MIB);
    return new DevicePool(d);
  }

  /** A large block's own chunk goes back to the driver when a full device needs the room. */
  @Test
  void aFullDeviceGetsBackTheChunksNoBlockUses() {
    DevicePool pool = poolOf100MiB();
    long a = pool.takeScratch(80 * MIB);
    pool.give(a, 80 * MIB);
    assertThat(pool.reserved()).isEqualTo(80 * MIB);
    long b = pool.takeScratch(90 * MIB); // another size class: only a new chunk serves it
    assertThat(pool.reserved()).isEqualTo(DevicePool.sizeClass(90 * MIB));
    assertThat(pool.inUse()).isEqualTo(DevicePool.sizeClass(90 * MIB));
    assertThat(pool.chunks()).isEqualTo(2);
    pool.give(b, 90 * MIB);
    // small blocks still come from new chunks, which the driver can give
    long c = pool.takeScratch(4096);
    pool.give(c, 4096);
    assertThat(pool.inUse()).isZero();
  }

  /** A tensor that is unreachable but not yet collected: the collector frees its block. */
  @Test
  void aFullDeviceCollectsUnreachableTensors() {
    DevicePool pool = poolOf100MiB();
    DevicePool.Block big = pool.take(80 * MIB);
    assertThat(big.bytes).isEqualTo(80 * MIB);
    big = null; // unreachable, not collected yet
    DevicePool.Block other = pool.take(90 * MIB);
    assertThat(other.bytes).isEqualTo(DevicePool.sizeClass(90 * MIB));
    assertThat(pool.reserved()).isEqualTo(other.bytes);
    java.lang.ref.Reference.reachabilityFence(other);
  }

  /**
   * What cannot be freed is reported in one line; the pool is unchanged by the failure, and a
   * recorded step's blocks (kept while recording) stay where they are.
   */
  @Test
  void aDeviceFullOfLiveMemorySaysHowItIsHeld() {
    DevicePool pool = poolOf100MiB();
    long a = pool.takeScratch(80 * MIB);
    assertThatThrownBy(() -> pool.takeScratch(90 * MIB))
        .isInstanceOf(DeviceOutOfMemoryException.class)
        .hasMessage("CUDA out of memory: 101 MB more asked of the driver (for a block of 101 "
            + "MB); this process holds 84 MB of device memory of the device's 105 MB: 84 MB in "
            + "tensors, scratch and cached copies, 0 MB free in pieces it cannot use (the "
            + "largest that blocks of its size may take: 0 bytes)");
    assertThat(pool.inUse()).isEqualTo(80 * MIB);
    assertThat(pool.reserved()).isEqualTo(80 * MIB);
    pool.give(a, 80 * MIB);
    pool.hold(); // recording: the driver may not free memory, so the free chunk stays
    assertThatThrownBy(() -> pool.takeScratch(90 * MIB))
        .isInstanceOf(DeviceOutOfMemoryException.class);
    pool.release(pool.endHold());
    pool.give(pool.takeScratch(90 * MIB), 90 * MIB);
    assertThat(pool.inUse()).isZero();
  }

  /**
   * A small block on a full device: the free piece of a large chunk cannot serve it, and the
   * message's largest piece is that of the small chunks (none), not the large chunk's 24 MiB.
   */
  @Test
  void aSmallBlockOnAFullDeviceCountsOnlySmallPieces() {
    FakeDevice d = new FakeDevice();
    d.limitMemory(65 * MIB); // one large chunk, and no room for a small one beside it
    DevicePool pool = new DevicePool(d);
    long a = pool.takeScratch(40 * MIB); // keeps the chunk in use: 24 MiB free in it
    assertThatThrownBy(() -> pool.takeScratch(4096))
        .isInstanceOf(DeviceOutOfMemoryException.class)
        .hasMessage("CUDA out of memory: 2 MB more asked of the driver (for a block of 4096 "
            + "bytes); this process holds 67 MB of device memory of the device's 68 MB: 42 MB in "
            + "tensors, scratch and cached copies, 25 MB free in pieces it cannot use (the "
            + "largest that blocks of its size may take: 0 bytes)");
    pool.give(a, 40 * MIB);
    pool.checkInvariants();
  }

  /** The peaks: the most in use and held since the start or the last reset. */
  @Test
  void peaksFollowTheMostHeldSinceTheLastReset() {
    DevicePool pool = new DevicePool(new FakeDevice());
    long a = pool.takeScratch(4 * MIB);
    long b = pool.takeScratch(2 * MIB);
    pool.give(a, 4 * MIB);
    assertThat(pool.peakInUse()).isEqualTo(6 * MIB);
    assertThat(pool.peakReserved()).isEqualTo(DevicePool.CHUNK);
    pool.resetPeaks();
    assertThat(pool.peakInUse()).isEqualTo(2 * MIB);
    long c = pool.takeScratch(MIB);
    assertThat(pool.peakInUse()).isEqualTo(3 * MIB);
    pool.give(b, 2 * MIB);
    pool.give(c, MIB);
    assertThat(pool.inUse()).isZero();
    assertThat(pool.peakInUse()).isEqualTo(3 * MIB);
  }

  /**
   * A free piece larger than asked is split, the rest staying free; pieces given back merge with
   * their free neighbours, so they serve a larger block; a chunk with nothing in use is one piece
   * again and goes back whole.
   */
  @Test
  void piecesSplitAndMerge() {
    FakeDevice device = new FakeDevice();
    DevicePool pool = new DevicePool(device);
    long a = pool.takeScratch(8 * MIB);
    long b = pool.takeScratch(8 * MIB);
    long c = pool.takeScratch(8 * MIB);
    assertThat(b).isEqualTo(a + 8 * MIB);
    assertThat(c).isEqualTo(b + 8 * MIB);
    pool.give(a, 8 * MIB);
    pool.give(b, 8 * MIB); // merges with a: 16 MiB free at a
    pool.checkInvariants();
    long d = pool.takeScratch(12 * MIB); // the best fit: the 16 MiB piece, not the chunk's 40
    assertThat(d).isEqualTo(a);
    // the fake device checks accesses against the block as it is now, not against b's old bounds
    assertThat(device.span(a + 9 * MIB)).containsExactly(a, 12 * MIB);
    long e = pool.takeScratch(4 * MIB); // the 4 MiB left of it
    assertThat(e).isEqualTo(a + 12 * MIB);
    long f = pool.takeScratch(40 * MIB); // the end of the chunk, exactly
    assertThat(f).isEqualTo(c + 8 * MIB);
    assertThat(pool.chunks()).isEqualTo(1);
    assertThat(pool.inUse()).isEqualTo(DevicePool.CHUNK);
    pool.checkInvariants();
    for (long[] x : new long[][] {{e, 4}, {c, 8}, {d, 12}, {f, 40}}) {
      pool.give(x[0], x[1] * MIB);
      pool.checkInvariants();
    }
    assertThat(pool.inUse()).isZero();
    assertThat(pool.takeScratch(64 * MIB)).as("one piece again").isEqualTo(a);
    pool.give(a, 64 * MIB);
    assertThat(pool.releaseFreeChunks()).isEqualTo(DevicePool.CHUNK);
    assertThat(pool.reserved()).isZero();
    pool.checkInvariants();
  }

  /**
   * Memory freed by blocks of other sizes serves a new size on a full device (100 MiB: no second
   * chunk of 64 MiB fits), where free lists by size class could not use it.
   */
  @Test
  void freedPiecesServeOtherSizesOnAFullDevice() {
    DevicePool pool = poolOf100MiB();
    long x = pool.takeScratch(24 * MIB);
    long y = pool.takeScratch(24 * MIB);
    long z = pool.takeScratch(16 * MIB); // the first chunk is full, and stays in use
    pool.give(x, 24 * MIB);
    pool.give(y, 24 * MIB);
    long w = pool.takeScratch(40 * MIB);
    assertThat(w).isEqualTo(x);
    assertThat(pool.chunks()).isEqualTo(1);
    pool.give(w, 40 * MIB);
    pool.give(z, 16 * MIB);
    pool.checkInvariants();
    assertThat(pool.inUse()).isZero();
  }

  /**
   * Small blocks come from chunks of their own (2 MiB), so they do not pin a large chunk; a rest of
   * 1 MiB or less in a large chunk stays with the block it would have followed.
   */
  @Test
  void smallBlocksHaveChunksOfTheirOwnAndSmallRestsStay() {
    DevicePool pool = new DevicePool(new FakeDevice());
    long a = pool.takeScratch(4096);
    long big = pool.takeScratch(8 * MIB);
    long b = pool.takeScratch(1000); // 1,024 bytes after a, in the same small chunk
    assertThat(b).isEqualTo(a + 4096);
    assertThat(pool.chunks()).isEqualTo(2);
    assertThat(pool.reserved()).isEqualTo(DevicePool.SMALL_CHUNK + DevicePool.CHUNK);
    assertThat(pool.inUse()).isEqualTo(4096 + 8 * MIB + 1024);
    long c = pool.takeScratch(49 * MIB); // class 56 MiB: the chunk's 56 left, exactly
    long d = pool.takeScratch(7 * MIB + 1); // class 8 MiB: a new chunk, 56 MiB of it left
    pool.give(big, 8 * MIB);
    long e = pool.takeScratch(7 * MIB); // the best fit, 8 MiB at big: 1 MiB left, kept with it
    assertThat(e).isEqualTo(big);
    assertThat(pool.inUse()).isEqualTo(4096 + 1024 + 56 * MIB + 8 * MIB + 8 * MIB);
    pool.checkInvariants();
    for (long[] x : new long[][] {{a, 4096}, {b, 1000}, {c, 49 * MIB}, {d, 7 * MIB + 1},
        {e, 7 * MIB}}) {
      pool.give(x[0], x[1]);
    }
    pool.checkInvariants();
    assertThat(pool.inUse()).isZero();
    assertThat(pool.releaseFreeChunks()).isEqualTo(DevicePool.SMALL_CHUNK + 2 * DevicePool.CHUNK);
  }

  /** A block larger than a chunk gets a chunk of its own, given back whole. */
  @Test
  void aLargeBlockHasAChunkOfItsOwn() {
    DevicePool pool = new DevicePool(new FakeDevice());
    long a = pool.takeScratch(8 * MIB);
    long big = pool.takeScratch(100 * MIB);
    long b = pool.takeScratch(8 * MIB);
    assertThat(b).isEqualTo(a + 8 * MIB);
    assertThat(pool.chunks()).isEqualTo(2);
    assertThat(pool.reserved()).isEqualTo(DevicePool.CHUNK + DevicePool.sizeClass(100 * MIB));
    pool.give(big, 100 * MIB);
    assertThat(pool.releaseFreeChunks()).isEqualTo(DevicePool.sizeClass(100 * MIB));
    pool.give(a, 8 * MIB);
    pool.give(b, 8 * MIB);
    pool.checkInvariants();
    assertThat(pool.inUse()).isZero();
  }

  /** A block given back twice, or an address never handed out, is a bug: it says so. */
  @Test
  void aBlockGivenBackTwiceIsRefused() {
    DevicePool pool = new DevicePool(new FakeDevice());
    long a = pool.takeScratch(4096);
    pool.give(a, 4096);
    assertThatThrownBy(() -> pool.give(a, 4096)).isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("which is not a block handed out");
    long b = pool.takeScratch(4096);
    assertThatThrownBy(() -> pool.give(b, 8192)).hasMessageContaining("(it has 4096)");
    assertThatThrownBy(() -> pool.give(b + 512, 512)).hasMessageContaining("not a block");
    pool.give(b, 4096);
  }

  /**
   * Random takes and gives of sizes from 1 byte to 80 MiB (most below 8 MiB, the live ones below
   * 192 MiB in all: the fake device's memory is the test's heap), with recording spans: the live
   * blocks never overlap, the bookkeeping holds, and everything given back returns the pool to
   * nothing in use, every chunk going back to the driver.
   */
  @Test
  void randomTakesAndGivesKeepTheBookkeeping() {
    java.util.Random r = new java.util.Random(11);
    DevicePool pool = new DevicePool(new FakeDevice());
    java.util.TreeMap<Long, Long> live = new java.util.TreeMap<>(); // address -> bytes asked
    List<long[]> recorded = null;
    for (int i = 0; i < 6_000; i++) {
      if (r.nextInt(500) == 0) {
        if (recorded == null) {
          pool.hold();
          recorded = new ArrayList<>();
        } else {
          pool.release(pool.endHold());
          recorded = null;
        }
      }
      long liveBytes = live.values().stream().mapToLong(Long::longValue).sum();
      if (live.isEmpty() || (r.nextInt(100) < 55 && liveBytes < (192L << 20))) {
        int kind = r.nextInt(100);
        long bytes = 1 + (kind == 0 ? r.nextInt(80 << 20) : kind < 30 ? r.nextInt(8 << 20)
            : r.nextInt(1 << 20));
        long at = pool.takeScratch(bytes);
        long size = DevicePool.sizeClass(bytes);
        Map.Entry<Long, Long> before = live.floorEntry(at);
        Map.Entry<Long, Long> after = live.ceilingEntry(at);
        assertThat(before == null || before.getKey() + DevicePool.sizeClass(before.getValue()) <= at)
            .as("block at %d overlaps the one before", at).isTrue();
        assertThat(after == null || at + size <= after.getKey())
            .as("block at %d overlaps the one after", at).isTrue();
        assertThat(at % 256).as("aligned as cuMemAlloc aligns").isZero();
        live.put(at, bytes);
      } else {
        Long at = new ArrayList<>(live.keySet()).get(r.nextInt(live.size()));
        pool.give(at, live.remove(at));
      }
      if (i % 50 == 0) {
        pool.checkInvariants();
      }
      if (r.nextInt(300) == 0) {
        pool.releaseFreeChunks();
      }
    }
    if (recorded != null) {
      pool.release(pool.endHold());
    }
    for (Map.Entry<Long, Long> e : live.entrySet()) {
      pool.give(e.getKey(), e.getValue());
    }
    pool.checkInvariants();
    assertThat(pool.inUse()).isZero();
    long reserved = pool.reserved();
    assertThat(pool.releaseFreeChunks()).isEqualTo(reserved);
    assertThat(pool.reserved()).isZero();
  }
}
