package org.sdpo.verifiers;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.sdpo.verifiers.code.CodeEnvironment;

class CodeEnvironmentTest {
  private final CodeEnvironment full = new CodeEnvironment(FeedbackLevel.FULL);

  private static Task task() {
    // f(x) = 2x + 1, with a hidden test f(3) = 7
    return new Task("t", "code", "Write f(x): double x and add 1.\n", "def f(x):\n    return 2 * x + 1",
        1, Split.TRAIN, Map.of("function", "f", "params", List.of("x"), "tests", List.of(
            Map.of("args", List.of(0L), "expected", 1L),
            Map.of("args", List.of(1L), "expected", 3L),
            Map.of("args", List.of(2L), "expected", 5L),
            Map.of("args", List.of(3L), "expected", 7L))));
  }

  @Test
  void referenceSolutionsOfEveryDifficultyPass() {
    for (Split split : Split.values()) {
      for (int d = 1; d <= full.maxDifficulty(); d++) {
        for (Task t : full.tasks(split, 15, 42, d)) {
          Verdict v = full.verify(t, t.reference());
          assertThat(v.success()).as(t.reference() + " -> " + v.feedback()).isTrue();
          assertThat(v.reward()).isEqualTo(1.0);
          assertThat(t.split()).isEqualTo(split);
          assertThat(t.difficulty()).isEqualTo(d);
        }
      }
    }
  }

  @Test
  void wrongAnswerNamesTheCallAndBothValues() {
    Verdict v = full.verify(task(), "def f(x):\n    return 2 * x + 1 if x < 3 else 9");
    assertThat(v.success()).isFalse();
    assertThat(v.kind()).isEqualTo("wrong_answer");
    assertThat(v.feedback()).isEqualTo(
        "Wrong Answer\nf(3) returned 9, expected 7 (hidden test 1 of 4)");
    assertThat(v.details()).containsEntry("passed", 3L);
  }

  @Test
  void syntaxErrorHasLineColumnAndExpectation() {
    Verdict v = full.verify(task(), "def f(x)\n    return x");
    assertThat(v.kind()).isEqualTo("syntax_error");
    assertThat(v.feedback()).startsWith("Syntax Error\nline 1, column 9: expected ':' after the"
        + " parameter list, found end of line");
    assertThat(full.verify(task(), "def f(x):\n    return (x + 1").feedback())
        .contains("expected ')' to close the parenthesis");
    assertThat(full.verify(task(), "def f(x):\n    return x / 2").feedback())
        .contains("use '//' for integer division");
  }

  @Test
  void runtimeErrorsAreNamedLikePython() {
    assertThat(full.verify(task(), "def f(x):\n    return 1 // x").feedback())
        .isEqualTo("Runtime Error\nf(0) raised ZeroDivisionError: integer division by zero "
            + "(line 2, column 14) (example 1 of 4)");
    assertThat(full.verify(task(), "def f(x):\n    return y").feedback())
        .contains("NameError: name 'y' is not defined");
    assertThat(full.verify(task(), "def f(x):\n    return f(x, 1)").feedback())
        .contains("TypeError: f() takes 1 argument but 2 were given");
    assertThat(full.verify(task(), "def f(x):\n    return x + True").feedback())
        .contains("TypeError: unsupported operand types for +: 'int' and 'bool'");
    assertThat(full.verify(task(), "def f(x):\n    return f(x)").feedback())
        .contains("RecursionError");
  }

  @Test
  void endlessLoopsHitTheStepBudget() {
    Verdict v = full.verify(task(), "def f(x):\n    while True:\n        x = x + 1\n    return x");
    assertThat(v.kind()).isEqualTo("timeout");
    assertThat(v.feedback()).startsWith("Time Limit Exceeded\nf(0) ran for more than");
  }

  @Test
  void signatureAndMissingFunction() {
    assertThat(full.verify(task(), "def g(x):\n    return x").kind()).isEqualTo("format_error");
    assertThat(full.verify(task(), "def f(x, y):\n    return x").feedback())
        .contains("f must take 1 argument [x], yours takes 2 [x, y]");
  }

  @Test
  void feedbackLevels() {
    String wrong = "def f(x):\n    return x";
    assertThat(new CodeEnvironment(FeedbackLevel.NONE).verify(task(), wrong).feedback()).isEmpty();
    assertThat(new CodeEnvironment(FeedbackLevel.SUMMARY).verify(task(), wrong).feedback())
        .isEqualTo("Wrong Answer");
    assertThat(full.verify(task(), wrong).feedback()).contains("f(0) returned 0, expected 1");
    assertThat(full.verify(task(), "def f(x):\n    return 2 * x + 1").feedback()).isEmpty();
  }

  @Test
  void acceptsFencedCodeAndLoopsAndLists() {
    assertThat(full.verify(task(), "Here:\n```python\ndef f(x):\n    return x + x + 1\n```\n")
        .success()).isTrue();
    String loop = "def f(x):\n    s = 1\n    for i in range(x):\n        s += 2\n    return s";
    assertThat(full.verify(task(), loop).success()).isTrue();
    String list = "def f(x):\n    a = [1, 3, 5, 7]\n    return a[x] if x < len(a) else 0";
    assertThat(full.verify(task(), list).success()).isTrue();
    String elif = "def f(x):\n    if x == 0:\n        return 1\n    elif x > 0:\n        return f(x - 1) + 2"
        + "\n    else:\n        return 0";
    assertThat(full.verify(task(), elif).success()).isTrue();
  }

  @Test
  void teachingMaterialHoldsRealWrongAttempts() {
    List<TeachingExample> ex = full.teaching(Split.TRAIN, 20, 3);
    assertThat(ex).hasSizeGreaterThan(15);
    for (TeachingExample e : ex) {
      assertThat(e.verdict().success()).isFalse();
      assertThat(e.verdict().feedback()).isNotEmpty();
      assertThat(full.verify(e.task(), e.wrongAttempt())).isEqualTo(e.verdict());
      assertThat(full.verify(e.task(), e.solution()).success()).isTrue();
    }
    assertThat(full.teaching(Split.TRAIN, 20, 3)).isEqualTo(ex);
  }
}
