package org.sdpo.tensor;

import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.ForkJoinTask;

/**
 * Splits a loop over [0, n) across the cores for the Java kernels. Every index is computed by the
 * same code whatever the split, and a reduction never crosses a split, so results are identical
 * bit for bit with one thread or many.
 */
public final class Parallel {
  /** Below this many units of work (about elements) a loop runs on the calling thread. */
  static final int GRAIN = 1 << 15;

  private static final int THREADS = Math.max(1, Runtime.getRuntime().availableProcessors());

  private Parallel() {}

  /** The body of a loop over [start, end). */
  @FunctionalInterface
  public interface Range {
    void run(int start, int end);
  }

  /**
   * Runs {@code body} over [0, n), split into at most one chunk per core when {@code n *
   * costPerIndex} is large enough to pay for the hand-off.
   */
  public static void forRange(int n, int costPerIndex, Range body) {
    long work = (long) n * Math.max(1, costPerIndex);
    int chunks = (int) Math.min(THREADS, Math.max(1, work / GRAIN));
    chunks = Math.min(chunks, n);
    if (chunks <= 1) {
      body.run(0, n);
      return;
    }
    ForkJoinTask<?>[] tasks = new ForkJoinTask<?>[chunks - 1];
    for (int c = 1; c < chunks; c++) {
      int s = (int) ((long) n * c / chunks);
      int e = (int) ((long) n * (c + 1) / chunks);
      tasks[c - 1] = ForkJoinPool.commonPool().submit(() -> body.run(s, e));
    }
    body.run(0, (int) ((long) n / chunks));
    for (ForkJoinTask<?> t : tasks) {
      t.join();
    }
  }
}
