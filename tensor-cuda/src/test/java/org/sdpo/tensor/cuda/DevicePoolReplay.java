package org.sdpo.tensor.cuda;

/**
 * A replay of gives and takes against the device pool on the fake device, run by hand (not a
 * test; tensor-cuda/README.md, "Memory pool"): 400 live blocks, three in four of up to 64 KiB and
 * one in four of up to 8 MiB, drawn from 64 sizes (a run's few shapes), then a million rounds of
 * giving one back and taking another. Prints each 200,000 rounds' host time per round and what the
 * pool holds from the driver against what is in use:
 *
 * <pre>
 * mvn -B -q test-compile -pl tensor-cuda
 * java -cp tensor-cuda/target/test-classes:tensor-cuda/target/classes:$(cat cli/target/classpath.txt) \
 *     org.sdpo.tensor.cuda.DevicePoolReplay
 * </pre>
 */
public final class DevicePoolReplay {
  private DevicePoolReplay() {}

  public static void main(String[] args) {
    DevicePool pool = new DevicePool(new FakeDevice());
    java.util.Random r = new java.util.Random(1);
    long[] sizes = new long[64];
    for (int i = 0; i < sizes.length; i++) {
      sizes[i] = 1 + (i % 4 == 0 ? r.nextInt(8 << 20) : r.nextInt(64 << 10));
    }
    long[] at = new long[400];
    long[] bytes = new long[at.length];
    for (int i = 0; i < at.length; i++) {
      bytes[i] = sizes[r.nextInt(sizes.length)];
      at[i] = pool.takeScratch(bytes[i]);
    }
    for (int rep = 0; rep < 5; rep++) {
      long t = System.nanoTime();
      for (int n = 0; n < 200_000; n++) {
        int i = r.nextInt(at.length);
        pool.give(at[i], bytes[i]);
        bytes[i] = sizes[r.nextInt(sizes.length)];
        at[i] = pool.takeScratch(bytes[i]);
      }
      System.out.printf(java.util.Locale.ROOT,
          "%.0f ns a round; %d MB held from the driver (peak %d MB), %d MB in use (peak %d MB)%n",
          (System.nanoTime() - t) / 200_000.0, pool.reserved() >> 20, pool.peakReserved() >> 20,
          pool.inUse() >> 20, pool.peakInUse() >> 20);
    }
  }
}
