package org.sdpo.verifiers.arith;

import java.math.BigDecimal;
import java.math.RoundingMode;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.sdpo.verifiers.Environment;
import org.sdpo.verifiers.FeedbackLevel;
import org.sdpo.verifiers.Split;
import org.sdpo.verifiers.Task;
import org.sdpo.verifiers.TeachingExample;
import org.sdpo.verifiers.Verdict;
import org.sdpo.verifiers.Verifiers;

/**
 * Scalar-reward math: multi-digit arithmetic and small linear equations with exact integer
 * answers. The checker finds the final answer in reasonable formats ({@code 405}, {@code x = 7},
 * {@code The answer is -12.}, {@code #### 1,234}, {@code \boxed{7}}, {@code 7.0}, {@code 14/2}).
 * Its natural feedback level is none (the standard RLVR setting); full states the expected answer.
 */
public final class ArithEnvironment implements Environment {
  static final int MAX_DIFFICULTY = 4;
  private static final Pattern NUMBER =
      Pattern.compile("(?<![\\w.])[-−]?\\d{1,3}(?:,\\d{3})+(?:\\.\\d+)?(?![\\w])|[-−]?\\d+(?:\\.\\d+)?(?:/\\d+)?");
  private static final Pattern BOXED = Pattern.compile("\\\\boxed\\{([^{}]{0,60})\\}");
  private static final Pattern MARKED = Pattern.compile(
      "(?i)(?:####|answer\\s*(?:is|:)|x\\s*=|=)\\s*([-−]?[\\d,./]+)");

  private final FeedbackLevel level;

  public ArithEnvironment(FeedbackLevel level) {
    this.level = Verifiers.standardLevel("arith", level);
  }

  @Override
  public String name() {
    return "arith";
  }

  @Override
  public FeedbackLevel feedback() {
    return level;
  }

  @Override
  public Environment withFeedback(FeedbackLevel l) {
    return new ArithEnvironment(l);
  }

  @Override
  public int responseBudget() {
    return 16;
  }

  @Override
  public int maxDifficulty() {
    return MAX_DIFFICULTY;
  }

  @Override
  public List<Task> tasks(Split split, int n, long seed, int difficulty) {
    if (difficulty < 0 || difficulty > MAX_DIFFICULTY) {
      throw new IllegalArgumentException("arith: difficulty must be 0 (mixed) or 1.."
          + MAX_DIFFICULTY + ", got " + difficulty);
    }
    Random r = new Random(seed);
    List<Task> out = new ArrayList<>();
    while (out.size() < n) {
      int d = difficulty == 0 ? 1 + r.nextInt(MAX_DIFFICULTY) : difficulty;
      String[] qa = draw(r, d);
      if (Split.of(qa[0]) != split) {
        continue;
      }
      Map<String, Object> data = new LinkedHashMap<>();
      data.put("answer", Long.parseLong(qa[1]));
      out.add(new Task("arith-" + split.id() + "-" + seed + "-" + out.size(), "arith", qa[0],
          qa[1], d, split, data));
    }
    return out;
  }

  private static int c(Random r, int lo, int hi) {
    return lo + r.nextInt(hi - lo + 1);
  }

  /** {question, answer}. */
  static String[] draw(Random r, int d) {
    switch (d) {
      case 1: {
        int a = c(r, 10, 99);
        int b = c(r, 10, 99);
        return new String[] {"What is " + a + " + " + b + "?", String.valueOf(a + b)};
      }
      case 2: {
        int a = c(r, 10, 99);
        int b = c(r, 2, 9);
        return r.nextBoolean()
            ? new String[] {"What is " + a + " - " + (a - b * 3) + "?", String.valueOf(b * 3)}
            : new String[] {"What is " + a + " * " + b + "?", String.valueOf(a * b)};
      }
      case 3: {
        int a = c(r, 100, 999);
        int b = c(r, 10, 99);
        switch (r.nextInt(3)) {
          case 0:
            return new String[] {"What is " + a + " + " + (b * 11) + "?", String.valueOf(a + b * 11)};
          case 1:
            return new String[] {"What is " + a + " - " + (b * 7) + "?", String.valueOf(a - b * 7)};
          default:
            return new String[] {"What is " + b + " * " + (a % 90 + 10) + "?",
                String.valueOf(b * (a % 90 + 10))};
        }
      }
      default: {
        int x = c(r, -12, 12);
        int a = c(r, 2, 9);
        int b = c(r, 1, 30);
        boolean plus = r.nextBoolean();
        int rhs = plus ? a * x + b : a * x - b;
        return new String[] {"Solve for x: " + a + "x " + (plus ? "+ " : "- ") + b + " = " + rhs,
            String.valueOf(x)};
      }
    }
  }

  /** The final answer in a text, or null if there is none. */
  static BigDecimal parseAnswer(String text) {
    String t = text.replace('−', '-');
    Matcher boxed = BOXED.matcher(t);
    String candidate = null;
    while (boxed.find()) {
      candidate = boxed.group(1);
    }
    if (candidate == null) {
      Matcher marked = MARKED.matcher(t);
      while (marked.find()) {
        candidate = marked.group(1);
      }
    }
    if (candidate == null) {
      Matcher m = NUMBER.matcher(t);
      while (m.find()) {
        candidate = m.group();
      }
    }
    return candidate == null ? null : toNumber(candidate.trim());
  }

  private static BigDecimal toNumber(String s) {
    String t = s.replace(",", "").replaceAll("[.]$", "");
    if (t.length() > 60) {
      return null;
    }
    try {
      int slash = t.indexOf('/');
      if (slash > 0) {
        BigDecimal num = new BigDecimal(t.substring(0, slash));
        BigDecimal den = new BigDecimal(t.substring(slash + 1));
        if (den.signum() == 0) {
          return null;
        }
        return num.divide(den, 12, RoundingMode.HALF_EVEN);
      }
      return new BigDecimal(t);
    } catch (NumberFormatException | ArithmeticException e) {
      return null;
    }
  }

  @Override
  public Verdict verify(Task task, String attempt) {
    Object ans = task.data().get("answer");
    if (!(ans instanceof Number)) {
      return Verdict.fail("bad_task", feedback("Bad Task", "task " + task.id()
          + " has no numeric \"answer\""), Map.of());
    }
    BigDecimal expected = new BigDecimal(ans.toString());
    BigDecimal got = parseAnswer(attempt);
    if (got == null) {
      return Verdict.fail("no_answer", feedback("No Answer",
          "no number found; end your reply with the final answer, e.g. 42"), Map.of());
    }
    if (got.compareTo(expected) == 0) {
      return Verdict.pass(Verifiers.details("answer", got.stripTrailingZeros().toPlainString()));
    }
    return Verdict.fail("wrong_answer", feedback("Wrong Answer",
        "your answer " + got.stripTrailingZeros().toPlainString() + " is wrong; the correct answer is "
            + expected.toPlainString()),
        Verifiers.details("answer", got.stripTrailingZeros().toPlainString()));
  }

  private String feedback(String summary, String full) {
    return Verifiers.feedbackAt(level, summary, full);
  }

  @Override
  public List<TeachingExample> teaching(Split split, int n, long seed) {
    Random r = new Random(seed ^ 0x51ed2701L);
    List<TeachingExample> out = new ArrayList<>();
    for (Task t : tasks(split, n, seed, 0)) {
      long answer = Long.parseLong(t.reference());
      long[] slips = {1, -1, 10, -10, 2};
      String wrong = String.valueOf(answer + slips[r.nextInt(slips.length)]);
      out.add(new TeachingExample(t, t.reference(), wrong, verify(t, wrong)));
    }
    return out;
  }
}
