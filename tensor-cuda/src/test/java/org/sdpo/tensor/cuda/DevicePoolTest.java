package org.sdpo.tensor.cuda;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
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
            + "tensors, scratch and cached copies, 0 MB free in blocks of other sizes");
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
   * A free block that only a larger size class has, in a chunk a live block keeps: a full device
   * hands it out whole, and it goes back to its own class.
   */
  @Test
  void aFullDeviceHandsOutALargerFreeBlockWhole() {
    DevicePool pool = poolOf100MiB();
    long small = pool.takeScratch(MIB); // keeps the first chunk (64 MiB) in use
    long forty = pool.takeScratch(40 * MIB);
    pool.give(forty, 40 * MIB);
    long thirty = pool.takeScratch(30 * MIB); // class 32 MiB: 23 MiB left in the chunk, no room
    assertThat(thirty).isEqualTo(forty);
    assertThat(pool.reserved()).isEqualTo(DevicePool.CHUNK);
    assertThat(pool.inUse()).isEqualTo(41 * MIB);
    pool.give(thirty, 30 * MIB);
    assertThat(pool.inUse()).isEqualTo(MIB);
    assertThat(pool.takeScratch(40 * MIB)).as("back on the 40 MiB list").isEqualTo(forty);
    pool.give(forty, 40 * MIB);
    pool.give(small, MIB);
    assertThat(pool.inUse()).isZero();
  }

  /**
   * A block larger than a chunk gets a chunk of its own, and the small blocks after it go on
   * being carved from the chunk they were carved from (which a large block once left behind,
   * unused to its end: 64 MiB at most each time).
   */
  @Test
  void aLargeBlockLeavesTheChunkBeingCarvedAsItWas() {
    DevicePool pool = new DevicePool(new FakeDevice());
    long a = pool.takeScratch(MIB);
    long big = pool.takeScratch(100 * MIB);
    long b = pool.takeScratch(MIB);
    assertThat(b).isEqualTo(a + MIB);
    assertThat(pool.chunks()).isEqualTo(2);
    assertThat(pool.reserved()).isEqualTo(DevicePool.CHUNK + DevicePool.sizeClass(100 * MIB));
    pool.give(big, 100 * MIB);
    assertThat(pool.releaseFreeChunks()).isEqualTo(DevicePool.sizeClass(100 * MIB));
    long c = pool.takeScratch(MIB);
    assertThat(c).isEqualTo(b + MIB);
    for (long x : new long[] {a, b, c}) {
      pool.give(x, MIB);
    }
    assertThat(pool.inUse()).isZero();
  }

  /**
   * The end of a chunk too short for the next block becomes a free block of the largest class
   * that fits, which a later block of that class takes instead of a new chunk.
   */
  @Test
  void theEndOfAChunkServesALaterSmallerBlock() {
    DevicePool pool = new DevicePool(new FakeDevice());
    long a = pool.takeScratch(40 * MIB);
    long b = pool.takeScratch(40 * MIB); // 24 MiB left in the first chunk: a second one
    assertThat(pool.chunks()).isEqualTo(2);
    long c = pool.takeScratch(24 * MIB);
    assertThat(c).isEqualTo(a + 40 * MIB);
    assertThat(pool.chunks()).isEqualTo(2);
    assertThat(pool.inUse()).isEqualTo(104 * MIB);
    for (long[] x : new long[][] {{a, 40}, {b, 40}, {c, 24}}) {
      pool.give(x[0], x[1] * MIB);
    }
    assertThat(pool.inUse()).isZero();
    assertThat(pool.releaseFreeChunks()).isEqualTo(2 * DevicePool.CHUNK);
  }

  /** floorClass: a size class, at most the bytes, and no class lies between the two. */
  @Test
  void floorClassIsTheLargestClassThatFits() {
    java.util.Random r = new java.util.Random(7);
    for (int i = 0; i < 20_000; i++) {
      long b = i < 5_000 ? i : 1 + (r.nextLong() >>> (24 + r.nextInt(24)));
      long f = DevicePool.floorClass(b);
      if (b < 512) {
        assertThat(f).as("%d", b).isZero();
        continue;
      }
      assertThat(f).as("%d", b).isLessThanOrEqualTo(b).isPositive();
      assertThat(DevicePool.sizeClass(f)).as("%d is a class", f).isEqualTo(f);
      assertThat(DevicePool.sizeClass(f + 1)).as("the class after %d passes %d", f, b)
          .isGreaterThan(b);
    }
  }
}
