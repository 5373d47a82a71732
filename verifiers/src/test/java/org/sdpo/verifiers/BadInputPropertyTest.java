package org.sdpo.verifiers;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.quicktheories.QuickTheory.qt;
import static org.quicktheories.generators.SourceDSL.integers;
import static org.quicktheories.generators.SourceDSL.longs;
import static org.quicktheories.generators.SourceDSL.strings;

import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.sdpo.verifiers.addition.AdditionEnvironment;
import org.sdpo.verifiers.code.CodeEnvironment;
import org.sdpo.verifiers.code.Mutations;
import org.sdpo.verifiers.tool.ToolEnvironment;

/**
 * Whatever the model writes, every environment returns a verdict within its budget: random
 * strings, near-miss programs and JSON, very long inputs, deep nesting, huge numbers and endless
 * loops never raise an exception, a StackOverflowError or a hang.
 */
class BadInputPropertyTest {
  private static final Duration BUDGET = Duration.ofSeconds(60);
  private final List<Environment> envs = List.of(new CodeEnvironment(FeedbackLevel.FULL),
      Verifiers.byName("arith").withFeedback(FeedbackLevel.FULL),
      new ToolEnvironment(FeedbackLevel.FULL),
      new AdditionEnvironment(4, FeedbackLevel.FULL), new AdditionEnvironment(3, FeedbackLevel.PARTIAL),
      new AdditionEnvironment(9, FeedbackLevel.UNUSABLE),
      new org.sdpo.verifiers.key.KeyEnvironment(FeedbackLevel.FULL));

  private static void wellFormed(Verdict v) {
    assertThat(v).isNotNull();
    assertThat(v.reward()).isBetween(0.0, 1.0);
    assertThat(v.kind()).isNotBlank();
    assertThat(v.success()).isEqualTo(v.kind().equals("pass"));
  }

  @Test
  void randomStringsGetAVerdict() {
    assertTimeoutPreemptively(BUDGET, () -> {
      for (Environment env : envs) {
        Task task = env.tasks(Split.TRAIN, 1, 1, 0).get(0);
        qt().withFixedSeed(21L).withExamples(300)
            .forAll(strings().allPossible().ofLengthBetween(0, 300))
            .checkAssert(s -> wellFormed(env.verify(task, s)));
        qt().withFixedSeed(22L).withExamples(300)
            .forAll(strings().ascii().ofLengthBetween(0, 300))
            .checkAssert(s -> wellFormed(env.verify(task, s)));
      }
    });
  }

  @Test
  void nearMissProgramsFailExactlyWhenSomeTestFails() {
    CodeEnvironment env = new CodeEnvironment(FeedbackLevel.FULL);
    List<Task> tasks = env.tasks(Split.TRAIN, 40, 11, 0);
    assertTimeoutPreemptively(BUDGET, () ->
        qt().withFixedSeed(23L).withExamples(400)
            .forAll(integers().between(0, tasks.size() - 1), longs().between(0, 1_000_000),
                integers().between(1, 3))
            .checkAssert((i, seed, times) -> {
              Task t = tasks.get(i);
              Random r = new Random(seed);
              String m = t.reference();
              for (int k = 0; k < times; k++) {
                m = Mutations.mutate(m, r);
              }
              Verdict v = env.verify(t, m);
              wellFormed(v);
              // the verdict over all tests agrees with the verdicts test by test
              boolean allPass = true;
              for (Task single : oneTaskPerTest(t)) {
                allPass &= env.verify(single, m).success();
              }
              assertThat(v.success()).as(m + "\n-> " + v.feedback()).isEqualTo(allPass);
              if (!v.success()) {
                assertThat(v.feedback()).isNotBlank();
              }
            }));
  }

  @SuppressWarnings("unchecked")
  private static List<Task> oneTaskPerTest(Task t) {
    List<Task> out = new ArrayList<>();
    for (Object c : (List<Object>) t.data().get("tests")) {
      Map<String, Object> data = new LinkedHashMap<>(t.data());
      data.put("tests", List.of(c));
      out.add(new Task(t.id(), t.env(), t.prompt(), t.reference(), t.difficulty(), t.split(), data));
    }
    return out;
  }

  @Test
  void nearMissJsonGetsAVerdict() {
    ToolEnvironment env = new ToolEnvironment(FeedbackLevel.FULL);
    List<Task> tasks = env.tasks(Split.TRAIN, 30, 2, 0);
    assertTimeoutPreemptively(BUDGET, () ->
        qt().withFixedSeed(24L).withExamples(500)
            .forAll(integers().between(0, tasks.size() - 1), longs().between(0, 1_000_000))
            .checkAssert((i, seed) -> {
              Task t = tasks.get(i);
              Random r = new Random(seed);
              String s = t.reference();
              for (int k = 0; k < 1 + r.nextInt(3); k++) {
                s = r.nextBoolean() ? ToolEnvironment.mutate(s, r) : scramble(s, r);
              }
              wellFormed(env.verify(t, s));
            }));
  }

  private static String scramble(String s, Random r) {
    if (s.isEmpty()) {
      return "{";
    }
    int i = r.nextInt(s.length());
    String junk = "{}[]\",:\\0-e.9 \u0000\ud800";
    char c = junk.charAt(r.nextInt(junk.length()));
    switch (r.nextInt(3)) {
      case 0:
        return s.substring(0, i) + s.substring(i + 1);
      case 1:
        return s.substring(0, i) + c + s.substring(i);
      default:
        return s.substring(0, i) + c + s.substring(i + 1);
    }
  }

  @Test
  void hostileInputsGetAVerdictWithinTheBudget() {
    List<String> hostile = new ArrayList<>();
    hostile.add("def f(x):\n    return " + "1 + ".repeat(9000) + "1");
    hostile.add("def f(x):\n    return " + "(".repeat(5000) + "x" + ")".repeat(5000));
    hostile.add("def f(x):\n    return " + "-".repeat(5000) + "x");
    hostile.add("def f(x):\n    return " + "not ".repeat(5000) + "x");
    hostile.add("def f(x):\n    return 99999999999999999999999999999");
    hostile.add("def f(x):\n    return 10 ** 100");
    hostile.add("def f(x):\n    return (-1) ** 1000000000000");
    hostile.add("def f(x):\n    return len(range(1000000000000000000))");
    hostile.add("def f(x):\n    while True:\n        pass\n    return 0");
    hostile.add("def f(x):\n    return f(x + 1)");
    hostile.add("def f(x):\n    a = [1]\n    while True:\n        a = a + a\n    return 0");
    hostile.add("def f(x):\n" + "    if x:\n".repeat(500) + "        return 1");
    hostile.add("[".repeat(100_000));
    hostile.add("{\"a\":".repeat(10_000));
    hostile.add("9".repeat(50_000));
    hostile.add("x".repeat(Verifiers.MAX_ATTEMPT_CHARS + 1));
    hostile.add("\ud800\udfff\u0000\u202e def f(x): return x");
    hostile.add("");
    assertTimeoutPreemptively(BUDGET, () -> {
      for (Environment env : envs) {
        Task t = env.tasks(Split.TRAIN, 1, 4, 0).get(0);
        for (String h : hostile) {
          Verdict v = Verifiers.safeVerify(env, t, h);
          wellFormed(v);
          assertThat(v.kind()).as(env.name() + ": " + h.substring(0, Math.min(40, h.length())))
              .isNotEqualTo("internal_error");
        }
      }
    });
  }
}
