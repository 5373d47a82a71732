package org.sdpo.verifiers.addition;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.sdpo.verifiers.Environment;
import org.sdpo.verifiers.FeedbackLevel;
import org.sdpo.verifiers.Split;
import org.sdpo.verifiers.Task;
import org.sdpo.verifiers.TeachingExample;
import org.sdpo.verifiers.Verdict;
import org.sdpo.verifiers.Verifiers;

/**
 * Reversed fixed-width addition: an environment a model of a few hundred thousand parameters can
 * learn from in minutes, and whose feedback it can learn to read.
 *
 * <p>The question is two operands zero-padded to the width W, the answer the sum's W + 1 digits
 * least significant first (zero-padded): {@code 0347+0589=} is answered {@code 63900} (347 + 589 =
 * 936). Reversed answers let the model write each digit after the digits that decide its carry
 * (Lee et al. 2023), and fixed widths put every digit at a fixed position, so that reading a hint
 * is a positional copy.
 *
 * <p>Difficulty d (1..W) is the number of digits of the longer operand. Feedback levels, from
 * least to most informative:
 *
 * <ul>
 *   <li>none: nothing;
 *   <li>unusable (the control): {@code too high}, {@code too low} or {@code not a number}, which
 *       a small model cannot turn into digits;
 *   <li>partial: only what is wrong: the correct digit where the attempt's digit is wrong or
 *       missing, {@code ?} where it is right ({@code ?3???} for the attempt {@code 64900});
 *   <li>full: the answer ({@code 63900}).
 * </ul>
 *
 * <p>An attempt succeeds if it is exactly the answer (trailing white space ignored). Every verdict
 * of a failed attempt carries {@code wrong_positions}: the character offsets of the attempt that
 * are wrong, so that per-token credit can be checked against the truth.
 */
public final class AdditionEnvironment implements Environment {
  /** The default operand width. */
  public static final int DEFAULT_WIDTH = 4;
  static final int MAX_WIDTH = 9;
  private static final List<FeedbackLevel> LEVELS = List.of(FeedbackLevel.NONE,
      FeedbackLevel.UNUSABLE, FeedbackLevel.PARTIAL, FeedbackLevel.FULL);

  private final int width;
  private final FeedbackLevel level;

  /** Width {@value #DEFAULT_WIDTH}, full feedback. */
  public AdditionEnvironment() {
    this(DEFAULT_WIDTH, FeedbackLevel.FULL);
  }

  public AdditionEnvironment(int width, FeedbackLevel level) {
    if (width < 1 || width > MAX_WIDTH) {
      throw new IllegalArgumentException("addition: width must be in 1.." + MAX_WIDTH + ", got "
          + width);
    }
    this.width = width;
    this.level = level;
    Verifiers.offered(this, level);
  }

  @Override
  public String name() {
    return "addition";
  }

  @Override
  public FeedbackLevel feedback() {
    return level;
  }

  @Override
  public List<FeedbackLevel> levels() {
    return LEVELS;
  }

  @Override
  public Environment withFeedback(FeedbackLevel l) {
    return new AdditionEnvironment(width, l);
  }

  @Override
  public int maxDifficulty() {
    return width;
  }

  /** The W + 1 digits and the end of text. */
  @Override
  public int responseBudget() {
    return width + 2;
  }

  public int width() {
    return width;
  }

  /** The question for two operands: {@code 0347+0589=}. */
  public String question(long a, long b) {
    return pad(a, width) + "+" + pad(b, width) + "=";
  }

  /** The answer: the sum's W + 1 digits, least significant first. */
  public String answer(long a, long b) {
    return new StringBuilder(pad(a + b, width + 1)).reverse().toString();
  }

  private static String pad(long v, int w) {
    String s = Long.toString(v);
    return "0".repeat(Math.max(0, w - s.length())) + s;
  }

  @Override
  public List<Task> tasks(Split split, int n, long seed, int difficulty) {
    if (difficulty < 0 || difficulty > width) {
      throw new IllegalArgumentException("addition: difficulty must be 0 (mixed) or 1.." + width
          + ", got " + difficulty);
    }
    Random r = new Random(seed);
    List<Task> out = new ArrayList<>();
    long tries = 0;
    while (out.size() < n) {
      if (++tries > 1000L * n + 100_000) { // width 1 has only 100 questions, 20 of them test
        throw new IllegalArgumentException("addition: cannot draw " + n + " " + split.id()
            + " tasks of difficulty " + difficulty + " at width " + width);
      }
      int d = difficulty == 0 ? 1 + r.nextInt(width) : difficulty;
      long[] ab = operands(r, d);
      String q = question(ab[0], ab[1]);
      if (Split.of(q) != split) {
        continue;
      }
      Map<String, Object> data = new LinkedHashMap<>();
      data.put("a", ab[0]);
      data.put("b", ab[1]);
      data.put("width", (long) width);
      data.put("answer", answer(ab[0], ab[1]));
      out.add(new Task("addition-" + split.id() + "-" + seed + "-" + out.size(), "addition", q,
          answer(ab[0], ab[1]), d, split, data));
    }
    return out;
  }

  /** Two operands of at most d digits, at least one of exactly d digits (in random order). */
  private static long[] operands(Random r, int d) {
    long lo = d == 1 ? 0 : pow10(d - 1);
    long hi = pow10(d);
    long a = lo + (long) (r.nextDouble() * (hi - lo));
    long b = (long) (r.nextDouble() * hi);
    return r.nextBoolean() ? new long[] {a, b} : new long[] {b, a};
  }

  private static long pow10(int e) {
    long p = 1;
    for (int i = 0; i < e; i++) {
      p *= 10;
    }
    return p;
  }

  @Override
  public Verdict verify(Task task, String attempt) {
    if (!(task.data().get("answer") instanceof String expected) || expected.isEmpty()
        || !expected.chars().allMatch(c -> c >= '0' && c <= '9')) {
      return Verdict.fail("bad_task", feedbackText("bad task"), Map.of());
    }
    String a = attempt.stripTrailing();
    if (a.equals(expected)) {
      return Verdict.pass(Verifiers.details("answer", a));
    }
    List<Long> wrong = new ArrayList<>();
    StringBuilder partial = new StringBuilder();
    for (int i = 0; i < Math.max(a.length(), expected.length()); i++) {
      boolean right = i < a.length() && i < expected.length() && a.charAt(i) == expected.charAt(i);
      if (i < a.length() && !right) {
        wrong.add((long) i);
      }
      if (i < expected.length()) {
        partial.append(right ? '?' : expected.charAt(i));
      }
    }
    String text;
    switch (level) {
      case FULL:
        text = expected;
        break;
      case PARTIAL:
        text = partial.toString();
        break;
      case UNUSABLE:
        text = direction(a, expected);
        break;
      default:
        text = "";
    }
    String kind = a.isEmpty() || !a.chars().allMatch(c -> c >= '0' && c <= '9')
        ? "format_error" : "wrong_answer";
    Map<String, Object> details = new LinkedHashMap<>();
    details.put("wrong_positions", wrong);
    details.put("wrong_digits", (long) wrong.size());
    return Verdict.fail(kind, text, details);
  }

  private String feedbackText(String s) {
    return level == FeedbackLevel.NONE ? "" : s;
  }

  /** The unusable control: is the attempt's value (read least significant first) too high or low? */
  private static String direction(String attempt, String expected) {
    if (attempt.isEmpty() || attempt.length() > 40
        || !attempt.chars().allMatch(c -> c >= '0' && c <= '9')) {
      return "not a number";
    }
    var got = new java.math.BigInteger(new StringBuilder(attempt).reverse().toString());
    var want = new java.math.BigInteger(new StringBuilder(expected).reverse().toString());
    int c = got.compareTo(want);
    return c > 0 ? "too high" : c < 0 ? "too low" : "wrong width";
  }

  /**
   * Wrong attempts as a student makes them: the answer with one to three digits changed (half of
   * the time one digit, a carry slip of plus or minus one in a third of the changes).
   */
  @Override
  public List<TeachingExample> teaching(Split split, int n, long seed) {
    Random r = new Random(seed ^ 0x5eed_add1L);
    List<TeachingExample> out = new ArrayList<>();
    for (Task t : tasks(split, n, seed, 0)) {
      String wrong = mutate(t.reference(), r);
      out.add(new TeachingExample(t, t.reference(), wrong, verify(t, wrong)));
    }
    return out;
  }

  static String mutate(String answer, Random r) {
    char[] c = answer.toCharArray();
    double u = r.nextDouble();
    int changes = u < 0.5 ? 1 : u < 0.8 ? 2 : 3;
    List<Integer> positions = new ArrayList<>();
    for (int i = 0; i < c.length; i++) {
      positions.add(i);
    }
    java.util.Collections.shuffle(positions, r);
    for (int k = 0; k < Math.min(changes, c.length); k++) {
      int i = positions.get(k);
      int d = c[i] - '0';
      int nd = r.nextInt(3) == 0 ? (d + (r.nextBoolean() ? 1 : 9)) % 10 : (d + 1 + r.nextInt(9)) % 10;
      c[i] = (char) ('0' + nd);
    }
    return new String(c);
  }
}
