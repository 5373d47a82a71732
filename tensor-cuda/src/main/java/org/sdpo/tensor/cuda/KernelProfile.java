package org.sdpo.tensor.cuda;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Device time per kernel, for finding where a step's time goes ({@code SDPO_CUDA_PROFILE=1} or
 * {@code -Dsdpo.cuda.profile=true}). The driver times each launch, matrix multiply, copy and
 * graph replay alone (on a GPU: CUDA events around it, then a wait for it, so nothing overlaps
 * and host gaps are left out) and adds it here under its name; at exit the table goes to
 * stderr, largest total first. Work recorded into a graph is timed as the replay, one row.
 * The first call of each name is kept apart (its own column, left out of the totals): it carries
 * one-time costs, such as loading the kernel's module or cuBLAS choosing and loading its kernel,
 * that can be a thousand times a steady call.
 */
public final class KernelProfile {
  // name -> {calls after the first, their total ms, the first call's ms}
  private final Map<String, double[]> rows = new LinkedHashMap<>();
  private final boolean byGrid;

  /** A profile with one row per kernel name. */
  public KernelProfile() {
    this(false);
  }

  /** byGrid: one row per kernel name and grid size (SDPO_CUDA_PROFILE=grid), to tell sizes apart. */
  public KernelProfile(boolean byGrid) {
    this.byGrid = byGrid;
  }

  /** Whether profiling was asked for. */
  static boolean wanted() {
    return Boolean.getBoolean("sdpo.cuda.profile") || "1".equals(System.getenv("SDPO_CUDA_PROFILE"))
        || byGridWanted();
  }

  private static boolean byGridWanted() {
    return "grid".equals(System.getProperty("sdpo.cuda.profile", System.getenv("SDPO_CUDA_PROFILE")));
  }

  /** A profile printed to stderr when the JVM exits, if profiling was asked for; else null. */
  static KernelProfile fromEnvironment() {
    if (!wanted()) {
      return null;
    }
    KernelProfile p = new KernelProfile(byGridWanted());
    PrintStream err = System.err;
    Runtime.getRuntime().addShutdownHook(new Thread(() -> err.print(p.report(30)),
        "sdpo-cuda-profile"));
    return p;
  }

  /** A matrix multiply's row: cuBLAS's column-major m x n x k, transposes, batch. */
  static String gemmName(CudaDriver.GemmType type, boolean transA, boolean transB, int m, int n,
      int k, int batch) {
    return "cuBLAS gemm " + type.name().toLowerCase(Locale.ROOT) + " " + (transA ? "T" : "N")
        + (transB ? "T" : "N") + " " + m + "x" + n + "x" + k + (batch > 1 ? " batch " + batch : "");
  }

  /** The row a launch of {@code kernel} with {@code grid} blocks is added to. */
  String launchName(String kernel, int grid) {
    return byGrid ? kernel + " (grid " + grid + ")" : kernel;
  }

  /** Adds one timed call of {@code name} that took {@code ms} milliseconds on the device. */
  public synchronized void add(String name, double ms) {
    double[] r = rows.get(name);
    if (r == null) {
      rows.put(name, new double[] {0, 0, ms});
    } else {
      r[0]++;
      r[1] += ms;
    }
  }

  /** The calls of {@code name} so far, the first included (0 if none). */
  public synchronized long calls(String name) {
    double[] r = rows.get(name);
    return r == null ? 0 : (long) r[0] + 1;
  }

  /** The timed device milliseconds of every call but each name's first. */
  public synchronized double totalMs() {
    return rows.values().stream().mapToDouble(r -> r[1]).sum();
  }

  /**
   * The table: the {@code top} names with the largest total time over the calls after the first
   * (calls, total ms, mean us, share of all such time, the first call's us), then one line for
   * the rest.
   */
  public synchronized String report(int top) {
    List<Map.Entry<String, double[]>> sorted = new ArrayList<>(rows.entrySet());
    sorted.sort(Comparator.comparingDouble((Map.Entry<String, double[]> e) -> -e.getValue()[1])
        .thenComparing(Map.Entry::getKey));
    double total = totalMs();
    StringBuilder sb = new StringBuilder();
    sb.append(String.format(Locale.ROOT, "%nCUDA profile (each call timed alone on the device; "
        + "each name's first call apart): %.1f ms in %d names%n", total, rows.size()));
    sb.append(String.format(Locale.ROOT, "%10s %12s %12s %7s %12s  %s%n", "calls", "total ms",
        "mean us", "share", "first us", "kernel"));
    double rest = 0;
    long restCalls = 0;
    for (int i = 0; i < sorted.size(); i++) {
      double[] r = sorted.get(i).getValue();
      if (i < top) {
        sb.append(String.format(Locale.ROOT, "%10d %12.3f %12.1f %6.1f%% %12.1f  %s%n",
            (long) r[0], r[1], r[0] == 0 ? 0 : 1e3 * r[1] / r[0],
            total == 0 ? 0 : 100 * r[1] / total, 1e3 * r[2], sorted.get(i).getKey()));
      } else {
        rest += r[1];
        restCalls += (long) r[0];
      }
    }
    if (sorted.size() > top) {
      sb.append(String.format(Locale.ROOT, "%10d %12.3f %12s %6.1f%% %12s  (%d others)%n",
          restCalls, rest, "", total == 0 ? 0 : 100 * rest / total, "", sorted.size() - top));
    }
    return sb.toString();
  }
}
