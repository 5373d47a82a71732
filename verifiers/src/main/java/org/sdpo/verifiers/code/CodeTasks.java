package org.sdpo.verifiers.code;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * Families of target programs by difficulty, each with a one-line description, a reference
 * solution and inputs for examples and hidden tests:
 *
 * <ol>
 *   <li>linear maps of one integer;
 *   <li>conditionals (distance, clamps, parity, thresholds);
 *   <li>compositions of two arguments;
 *   <li>loops and recursion (sums, factorials, digits, powers, Fibonacci).
 * </ol>
 */
final class CodeTasks {
  static final int MAX_DIFFICULTY = 4;

  private CodeTasks() {}

  /** A generated problem before it becomes a {@link org.sdpo.verifiers.Task}. */
  record Spec(int difficulty, String description, List<String> params, String reference,
      List<List<Long>> inputs) {}

  static Spec draw(Random r, int difficulty) {
    switch (difficulty) {
      case 1:
        return linear(r);
      case 2:
        return conditional(r);
      case 3:
        return composition(r);
      default:
        return loop(r);
    }
  }

  private static int c(Random r, int lo, int hi) {
    return lo + r.nextInt(hi - lo + 1);
  }

  private static List<List<Long>> oneArg(Random r, int lo, int hi, int n) {
    List<List<Long>> in = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      in.add(List.of((long) c(r, lo, hi)));
    }
    return in;
  }

  private static List<List<Long>> twoArgs(Random r, int lo, int hi, int n) {
    List<List<Long>> in = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      in.add(List.of((long) c(r, lo, hi), (long) c(r, lo, hi)));
    }
    return in;
  }

  private static Spec linear(Random r) {
    int a = c(r, 2, 9);
    int b = c(r, 1, 9);
    switch (r.nextInt(4)) {
      case 0:
        return new Spec(1, "multiply x by " + a + " and add " + b, List.of("x"),
            "def f(x):\n    return x * " + a + " + " + b, oneArg(r, -20, 20, 10));
      case 1:
        return new Spec(1, "multiply x by " + a + " and subtract " + b, List.of("x"),
            "def f(x):\n    return x * " + a + " - " + b, oneArg(r, -20, 20, 10));
      case 2:
        return new Spec(1, "subtract x from " + (a * b), List.of("x"),
            "def f(x):\n    return " + (a * b) + " - x", oneArg(r, -20, 40, 10));
      default:
        return new Spec(1, "add " + b + " to x, then multiply by " + a, List.of("x"),
            "def f(x):\n    return (x + " + b + ") * " + a, oneArg(r, -20, 20, 10));
    }
  }

  private static Spec conditional(Random r) {
    int k = c(r, 1, 12);
    int a = c(r, 1, 9);
    int b = c(r, 10, 19);
    switch (r.nextInt(5)) {
      case 0:
        return new Spec(2, "the distance between x and " + k, List.of("x"),
            "def f(x):\n    if x > " + k + ":\n        return x - " + k + "\n    return " + k + " - x",
            oneArg(r, -10, 30, 12));
      case 1:
        return new Spec(2, "x, but never less than " + k, List.of("x"),
            "def f(x):\n    if x < " + k + ":\n        return " + k + "\n    return x",
            oneArg(r, -10, 30, 12));
      case 2:
        return new Spec(2, a + " if x is even, otherwise " + b, List.of("x"),
            "def f(x):\n    if x % 2 == 0:\n        return " + a + "\n    return " + b,
            oneArg(r, -10, 30, 12));
      case 3:
        return new Spec(2, "1 if x is greater than " + k + ", otherwise 0", List.of("x"),
            "def f(x):\n    if x > " + k + ":\n        return 1\n    return 0",
            oneArg(r, -10, 30, 12));
      default:
        return new Spec(2, "x doubled if x is negative, otherwise x plus " + a, List.of("x"),
            "def f(x):\n    if x < 0:\n        return x * 2\n    return x + " + a,
            oneArg(r, -20, 20, 12));
    }
  }

  private static Spec composition(Random r) {
    int a = c(r, 1, 9);
    int m = c(r, 2, 7);
    switch (r.nextInt(5)) {
      case 0:
        return new Spec(3, "x times y plus " + a, List.of("x", "y"),
            "def f(x, y):\n    return x * y + " + a, twoArgs(r, -12, 12, 12));
      case 1:
        return new Spec(3, "the larger of x and y", List.of("x", "y"),
            "def f(x, y):\n    if x > y:\n        return x\n    return y", twoArgs(r, -20, 20, 12));
      case 2:
        return new Spec(3, "the difference between x and y, never negative", List.of("x", "y"),
            "def f(x, y):\n    if x > y:\n        return x - y\n    return y - x",
            twoArgs(r, -20, 20, 12));
      case 3:
        return new Spec(3, "x modulo " + m + ", plus y", List.of("x", "y"),
            "def f(x, y):\n    return x % " + m + " + y", twoArgs(r, 0, 40, 12));
      default:
        return new Spec(3, "the sum of x and y, times " + m, List.of("x", "y"),
            "def f(x, y):\n    return (x + y) * " + m, twoArgs(r, -12, 12, 12));
    }
  }

  private static Spec loop(Random r) {
    int k = c(r, 2, 5);
    int a = c(r, 0, 5);
    int base = c(r, 2, 10);
    switch (r.nextInt(6)) {
      case 0:
        return new Spec(4, "the sum of the integers from " + a + " to x", List.of("x"),
            "def f(x):\n    s = 0\n    for i in range(" + a + ", x + 1):\n        s = s + i\n"
                + "    return s",
            oneArg(r, 0, 30, 10));
      case 1:
        return new Spec(4, "the product of the integers from " + (a + 1) + " to x (1 if none)",
            List.of("x"),
            "def f(x):\n    p = 1\n    for i in range(" + (a + 1) + ", x + 1):\n        p = p * i\n"
                + "    return p",
            oneArg(r, 0, 12, 10));
      case 2:
        return new Spec(4, "the number of digits of x in base " + base + " (x >= 0)", List.of("x"),
            "def f(x):\n    n = 1\n    while x >= " + base + ":\n        x = x // " + base
                + "\n        n = n + 1\n    return n",
            oneArg(r, 0, 99999, 10));
      case 3:
        return new Spec(4, "x to the power " + k + ", by repeated multiplication", List.of("x"),
            "def f(x):\n    r = 1\n    for i in range(" + k + "):\n        r = r * x\n    return r",
            oneArg(r, -9, 9, 10));
      case 4:
        return new Spec(4, "the sum of the digits of x in base " + base + " (x >= 0)", List.of("x"),
            "def f(x):\n    s = 0\n    while x > 0:\n        s = s + x % " + base
                + "\n        x = x // " + base + "\n    return s",
            oneArg(r, 0, 99999, 10));
      default: {
        int f0 = c(r, 0, 2);
        int f1 = c(r, 1, 3);
        return new Spec(4, "f(0) = " + f0 + ", f(1) = " + f1 + ", then f(x) = f(x - 1) + f(x - 2)",
            List.of("x"),
            "def f(x):\n    if x == 0:\n        return " + f0 + "\n    if x == 1:\n        return "
                + f1 + "\n    return f(x - 1) + f(x - 2)",
            oneArg(r, 0, 14, 10));
      }
    }
  }
}
