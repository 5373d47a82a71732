package org.sdpo.tensor;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Time per named piece of work, for finding where a step's time goes: the CPU backend's methods
 * ({@code SDPO_CPU_PROFILE=1}, {@link ProfiledBackend}) and the CUDA backend's kernels
 * ({@code SDPO_CUDA_PROFILE=1}). Each call is added under its name; {@link #report} is the table,
 * largest total first. The first call of each name is kept apart (its own column, left out of the
 * totals): it carries one-time costs (compiling the Java code, loading a kernel) that can be a
 * thousand times a steady call.
 */
public class CallProfile {
  // name -> {calls after the first, their total ms, the first call's ms}
  private final Map<String, double[]> rows = new LinkedHashMap<>();
  private final String title;
  private final String column;

  /** {@code title} heads the table; {@code column} names what a row is (kernel, method). */
  public CallProfile(String title, String column) {
    this.title = title;
    this.column = column;
  }

  /** Prints the table ({@code top} rows) to stderr when the JVM exits; returns this. */
  public CallProfile printAtExit(int top, String threadName) {
    java.io.PrintStream err = System.err;
    Runtime.getRuntime().addShutdownHook(new Thread(() -> err.print(report(top)), threadName));
    return this;
  }

  /** Adds one timed call of {@code name} that took {@code ms} milliseconds. */
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

  /** The timed milliseconds of every call but each name's first. */
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
    sb.append(String.format(Locale.ROOT, "%n%s: %.1f ms in %d names%n", title, total,
        rows.size()));
    sb.append(String.format(Locale.ROOT, "%10s %12s %12s %7s %12s  %s%n", "calls", "total ms",
        "mean us", "share", "first us", column));
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
