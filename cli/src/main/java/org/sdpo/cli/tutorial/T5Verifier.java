package org.sdpo.cli.tutorial;

import java.io.PrintStream;
import java.util.LinkedHashMap;
import java.util.Map;
import org.sdpo.verifiers.Environment;
import org.sdpo.verifiers.FeedbackLevel;
import org.sdpo.verifiers.Split;
import org.sdpo.verifiers.Task;
import org.sdpo.verifiers.Verdict;
import org.sdpo.verifiers.Verifiers;

/**
 * Tutorial 5: grading attempts by hand. An environment draws a task and grades any text written
 * for it: a reward, a kind (what went wrong) and feedback that explains the failure the way a
 * judge would. The feedback is what SDPO's self-teacher reads. A verifier never throws.
 */
public final class T5Verifier {
  private T5Verifier() {}

  public static void run(PrintStream out) {
    Environment code = Verifiers.byName("code").withFeedback(FeedbackLevel.FULL);
    Task task = code.tasks(Split.TEST, 1, 3, 2).get(0); // one held-out difficulty-2 task
    out.println("== the task (what the model sees)\n" + task.prompt());
    out.println("== its reference solution\n" + task.reference() + "\n");
    Map<String, String> attempts = new LinkedHashMap<>();
    attempts.put("the reference", task.reference());
    attempts.put("a syntax error", "def f(x):\n    return (x + 1");
    attempts.put("a wrong answer", "def f(x):\n    return x");
    attempts.put("a runtime error", "def f(x):\n    return x // 0");
    attempts.put("an endless loop", "def f(x):\n    while True:\n        x = x + 1\n    return x");
    attempts.put("the wrong function", "def g(x):\n    return x");
    attempts.put("not code at all", "I think the answer is 42.");
    for (var a : attempts.entrySet()) {
      Verdict v = code.verify(task, a.getValue());
      out.printf("-- %s: reward %.1f, kind %s%n", a.getKey(), v.reward(), v.kind());
      if (!v.feedback().isEmpty()) {
        out.println(indent(v.feedback()));
      }
    }
    // the same attempt at lower feedback levels: what a scalar-reward environment would say
    for (FeedbackLevel level : code.levels()) {
      Verdict v = code.withFeedback(level).verify(task, attempts.get("a wrong answer"));
      out.printf("-- wrong answer at feedback level %s: \"%s\"%n", level,
          v.feedback().replace("\n", " | "));
    }
    Environment arith = Verifiers.byName("arith").withFeedback(FeedbackLevel.FULL);
    Task sum = arith.tasks(Split.TEST, 1, 1, 1).get(0);
    out.println("== arith: " + sum.prompt().trim() + " (reference " + sum.reference() + ")");
    for (String guess : new String[] {sum.reference(), "7", "seven"}) {
      Verdict v = arith.verify(sum, guess);
      out.printf("-- \"%s\": reward %.1f, %s%n", guess, v.reward(),
          v.feedback().isEmpty() ? "(no feedback)" : v.feedback().replace('\n', ' '));
    }
  }

  private static String indent(String s) {
    return "     " + s.replace("\n", "\n     ");
  }
}
