package org.sdpo.tensor;

import java.util.concurrent.atomic.AtomicLong;

/**
 * Counters of native memory requests, to verify that a steady-state training step allocates
 * nothing new. {@link #arrays()} and {@link #bytes()} count every tensor buffer the backend
 * created (pool misses included, pool hits not); {@link #nativePointers()} is JavaCPP's count of
 * live native allocations, which also sees ND4J's own internal buffers.
 *
 * <p>ND4J's buffers live off the Java heap and JavaCPP does not count them (a 4 MB array adds
 * 120 bytes to its counter), so nothing makes the JVM collect the small Java objects that own
 * them: an allocating loop (sampling prompts of many lengths) can hold dead native memory while
 * the heap looks empty. Every {@link #collectEveryBytes()} bytes of new buffers we therefore ask
 * for a collection, which releases the dead ones (property {@code sdpo.collectEveryBytes},
 * default 256 MiB; 0 disables).
 */
public final class MemoryStats {
  static final AtomicLong ARRAYS = new AtomicLong();
  static final AtomicLong BYTES = new AtomicLong();
  static final AtomicLong SINCE_COLLECTION = new AtomicLong();
  static final AtomicLong COLLECTIONS = new AtomicLong();
  private static final long COLLECT_EVERY = Long.getLong("sdpo.collectEveryBytes", 256L << 20);

  private MemoryStats() {}

  /** Tensor buffers allocated since start. */
  public static long arrays() {
    return ARRAYS.get();
  }

  /** Bytes of tensor buffers allocated since start. */
  public static long bytes() {
    return BYTES.get();
  }

  /**
   * Native allocations currently alive according to JavaCPP (freed ones leave after GC), or -1
   * where JavaCPP is not on the class path (the GPU bundle ships without it).
   */
  public static long nativePointers() {
    try {
      return org.bytedeco.javacpp.Pointer.totalCount();
    } catch (NoClassDefFoundError | UnsatisfiedLinkError absent) {
      return -1;
    }
  }

  /** Bytes of new buffers after which a collection is requested (0: never). */
  public static long collectEveryBytes() {
    return COLLECT_EVERY;
  }

  /** Collections requested so far because of new native buffers. */
  public static long collections() {
    return COLLECTIONS.get();
  }

  /**
   * The process's peak resident memory so far in bytes ({@code VmHWM} of /proc/self/status:
   * heap, native buffers, code and thread stacks together), or -1 where the system does not say.
   */
  public static long peakResidentBytes() {
    return procStatus("VmHWM:");
  }

  /** The process's resident memory now in bytes ({@code VmRSS}), or -1 where unknown. */
  public static long residentBytes() {
    return procStatus("VmRSS:");
  }

  /**
   * A field of /proc/meminfo in bytes: {@code "MemTotal:"} (the machine's memory),
   * {@code "MemAvailable:"} (what a new allocation can get without swapping), or -1 where unknown.
   */
  public static long machineBytes(String field) {
    return procField("/proc/meminfo", field);
  }

  /**
   * The limits on this process's memory below the machine's, as "; ..." clauses to append to a
   * message, or "" where there are none: its address space ({@code ulimit -v}, from
   * /proc/self/limits) and its control group's bound (cgroup v2's memory.max).
   */
  public static String processLimits() {
    StringBuilder sb = new StringBuilder();
    try {
      for (String l : java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc/self/limits"))) {
        if (l.startsWith("Max address space")) { // "Max address space  8192000000  8192000000  bytes"
          String soft = l.substring("Max address space".length()).trim().split("\\s+")[0];
          if (!soft.equals("unlimited")) {
            sb.append("; its address space is limited to ").append(describe(Long.parseLong(soft)))
                .append(" (ulimit -v)");
          }
        }
      }
    } catch (java.io.IOException | RuntimeException e) {
      // not Linux, or an unexpected format: no limit said
    }
    try {
      String max = java.nio.file.Files.readString(java.nio.file.Path.of("/sys/fs/cgroup/memory.max"))
          .strip();
      if (!max.equals("max")) {
        sb.append("; its control group may use ").append(describe(Long.parseLong(max)))
            .append(" (memory.max)");
      }
    } catch (java.io.IOException | RuntimeException e) {
      // no cgroup v2 bound
    }
    return sb.toString();
  }

  private static long procStatus(String field) {
    return procField("/proc/self/status", field);
  }

  private static long procField(String file, String field) {
    try {
      for (String l : java.nio.file.Files.readAllLines(java.nio.file.Path.of(file))) {
        if (l.startsWith(field)) { // "VmHWM:\t  123456 kB"
          String[] f = l.substring(field.length()).trim().split("\\s+");
          return Long.parseLong(f[0]) * (f.length > 1 && f[1].equalsIgnoreCase("kB") ? 1024 : 1);
        }
      }
    } catch (java.io.IOException | RuntimeException e) {
      // not Linux, or an unexpected format: unknown
    }
    return -1;
  }

  /** {@code bytes} as "1.23 GB" / "456 MB" (decimal units), or "unknown" when negative. */
  public static String describe(long bytes) {
    if (bytes < 0) {
      return "unknown";
    }
    return bytes >= 1_000_000_000L
        ? String.format(java.util.Locale.ROOT, "%.2f GB", bytes / 1e9)
        : String.format(java.util.Locale.ROOT, "%.0f MB", bytes / 1e6);
  }

  /** Counts a tensor buffer a backend created (a backend in another module calls this). */
  public static void recordAllocation(DType dtype, int[] shape) {
    count(dtype, shape);
  }

  static void count(DType dtype, int[] shape) {
    long bytes = Shape.numel(shape) * dtype.bytes();
    ARRAYS.incrementAndGet();
    BYTES.addAndGet(bytes);
    if (COLLECT_EVERY > 0 && SINCE_COLLECTION.addAndGet(bytes) > COLLECT_EVERY) {
      SINCE_COLLECTION.set(0);
      COLLECTIONS.incrementAndGet();
      System.gc(); // frees the native buffers of unreachable tensors (ND4J's deallocator threads)
    }
  }
}
