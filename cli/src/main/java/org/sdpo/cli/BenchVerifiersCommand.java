package org.sdpo.cli;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicLong;
import org.sdpo.verifiers.Environment;
import org.sdpo.verifiers.Split;
import org.sdpo.verifiers.Task;
import org.sdpo.verifiers.TeachingExample;
import org.sdpo.verifiers.Verifiers;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code ./sdpo bench verifiers}: verifications per second of each built-in environment, on one
 * thread and on all cores, over a mix of correct attempts (reference solutions) and wrong ones
 * (the teaching material's mutations).
 */
@Command(name = "verifiers", mixinStandardHelpOptions = true,
    description = "Verifications per second for each built-in environment, 1 thread and all cores.")
final class BenchVerifiersCommand implements Callable<Integer> {
  @Option(names = "--seconds", description = "Measured seconds per row (default: ${DEFAULT-VALUE}).")
  double seconds = 2;

  @Option(names = "--threads", description = "Threads of the parallel row (default: cores).")
  int threads = Runtime.getRuntime().availableProcessors();

  @Override
  public Integer call() throws InterruptedException {
    System.out.printf(Locale.ROOT, "sdpo bench verifiers: %.1f s per row, %d threads, %s, %s%n",
        seconds, threads, System.getProperty("java.vm.name"), System.getProperty("java.version"));
    System.out.printf(Locale.ROOT, "%-8s %16s %18s %14s%n", "env", "1 thread (/s)",
        threads + " threads (/s)", "µs/verify");
    for (String name : Verifiers.builtIn()) {
      Environment env = Verifiers.byName(name);
      List<Task> tasks = new ArrayList<>();
      List<String> attempts = new ArrayList<>();
      for (TeachingExample e : env.teaching(Split.TRAIN, 128, 1)) {
        tasks.add(e.task());
        attempts.add(e.solution());
        tasks.add(e.task());
        attempts.add(e.wrongAttempt());
      }
      run(env, tasks, attempts, threads, 2.0); // warm-up (JIT)
      double one = run(env, tasks, attempts, 1, seconds);
      double many = run(env, tasks, attempts, threads, seconds);
      System.out.printf(Locale.ROOT, "%-8s %16.0f %18.0f %14.1f%n", name, one, many, 1e6 / one);
    }
    return 0;
  }

  /** Verifications per second with {@code threads} threads looping over the pairs. */
  private static double run(Environment env, List<Task> tasks, List<String> attempts, int threads,
      double seconds) throws InterruptedException {
    AtomicLong count = new AtomicLong();
    long end = System.nanoTime() + (long) (seconds * 1e9);
    List<Thread> ts = new ArrayList<>();
    long t0 = System.nanoTime();
    for (int k = 0; k < threads; k++) {
      int offset = k;
      Thread t = new Thread(() -> {
        long n = 0;
        int i = offset;
        while (System.nanoTime() < end) {
          for (int j = 0; j < 16; j++) {
            Verifiers.safeVerify(env, tasks.get(i), attempts.get(i));
            i = (i + 1) % tasks.size();
            n++;
          }
        }
        count.addAndGet(n);
      });
      ts.add(t);
      t.start();
    }
    for (Thread t : ts) {
      t.join();
    }
    return count.get() / ((System.nanoTime() - t0) / 1e9);
  }
}
