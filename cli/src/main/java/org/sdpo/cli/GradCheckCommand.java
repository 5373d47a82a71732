package org.sdpo.cli;

import java.io.PrintStream;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.sdpo.autograd.check.GradCheck;
import org.sdpo.autograd.check.OpCatalog;
import org.sdpo.tensor.Backends;
import org.sdpo.tensor.Rng;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code ./sdpo gradcheck}: checks every registered differentiable op against central finite
 * differences in float64 on random inputs and prints one row per check. Exits with 1 if any fails.
 */
@Command(name = "gradcheck", mixinStandardHelpOptions = true,
    description = "Check the analytic gradient of every differentiable op against finite "
        + "differences (float64). Exit code 1 if any check fails.")
final class GradCheckCommand implements Callable<Integer> {
  @Option(names = "--seed", description = "Seed of the random inputs (default: ${DEFAULT-VALUE}).")
  long seed = 1;

  @Option(names = "--cases", description = "Random inputs per op (default: ${DEFAULT-VALUE}).")
  int cases = 3;

  @Option(names = "--op", description = "Check only these ops (by name; repeatable).")
  List<String> ops;

  @Option(names = "--eps", description = "Finite-difference step (default: ${DEFAULT-VALUE}).")
  double eps = GradCheck.Tolerance.DEFAULT.eps();

  @Option(names = "--atol", description = "Absolute tolerance (default: ${DEFAULT-VALUE}).")
  double atol = GradCheck.Tolerance.DEFAULT.atol();

  @Option(names = "--rtol", description = "Relative tolerance (default: ${DEFAULT-VALUE}).")
  double rtol = GradCheck.Tolerance.DEFAULT.rtol();

  @Override
  public Integer call() {
    PrintStream out = System.out;
    if (cases < 1) {
      throw new IllegalArgumentException("--cases must be at least 1, got " + cases);
    }
    if (ops != null) {
      ops.forEach(OpCatalog::get); // unknown names fail here with the name
    }
    GradCheck.Tolerance tol = new GradCheck.Tolerance(eps, atol, rtol);
    out.printf(Locale.ROOT, "sdpo gradcheck: seed %d, %d case(s) per op, eps %.1e, atol %.1e, "
        + "rtol %.1e, float64%n", seed, cases, eps, atol, rtol);
    out.println("backend: " + Backends.describe());
    out.println();
    int width = 14; // the op column fits the longest name shown, with its fused mark
    for (OpCatalog.Entry e : OpCatalog.all()) {
      if (ops == null || ops.contains(e.name())) {
        width = Math.max(width, e.name().length() + 1);
      }
    }
    String row = "%-" + width + "s %-42s ";
    String header = String.format(Locale.ROOT, row + "%12s %12s  %s", "op", "input shapes",
        "max abs err", "max rel err", "result");
    out.println(header);
    out.println("-".repeat(header.length()));
    Rng rng = new Rng(seed);
    int checks = 0;
    int failed = 0;
    int opCount = 0;
    long start = System.nanoTime();
    for (OpCatalog.Entry e : OpCatalog.all()) {
      if (ops != null && !ops.contains(e.name())) {
        continue;
      }
      opCount++;
      for (int c = 0; c < cases; c++) {
        int n0 = 1 + rng.nextInt(4);
        int n1 = 1 + rng.nextInt(4);
        int n2 = 1 + rng.nextInt(4);
        OpCatalog.Instance inst = e.make(rng.nextLong(), n0, n1, n2);
        GradCheck.Report r = GradCheck.check(e.name(), inst.f(), tol, inst.inputs());
        checks++;
        out.printf(Locale.ROOT, row + "%12.3e %12.3e  %s%n", e.name() + (e.fused() ? "*" : ""),
            abbreviate(inst.shapes(), 42), r.maxAbsError(), r.maxRelError(),
            r.passed() ? "pass" : "FAIL");
        if (!r.passed()) {
          failed++;
          out.println("    " + r.describe());
        }
      }
    }
    out.println();
    out.printf(Locale.ROOT, "%d ops (* = fused), %d checks, %d failed, %.1f s%n", opCount, checks,
        failed, (System.nanoTime() - start) / 1e9);
    out.println(failed == 0 ? "gradcheck: all gradients match" : "gradcheck: FAILED");
    return failed == 0 ? 0 : 1;
  }

  private static String abbreviate(String s, int max) {
    return s.length() <= max ? s : s.substring(0, max - 3) + "...";
  }
}
