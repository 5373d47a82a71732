package org.sdpo.verifiers;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.quicktheories.QuickTheory.qt;
import static org.quicktheories.generators.SourceDSL.integers;
import static org.quicktheories.generators.SourceDSL.longs;

import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.sdpo.verifiers.addition.AdditionEnvironment;

class AdditionEnvironmentTest {
  private static AdditionEnvironment at(FeedbackLevel level) {
    return new AdditionEnvironment(4, level);
  }

  private static Task task347plus589() {
    AdditionEnvironment env = at(FeedbackLevel.FULL);
    return new Task("t", "addition", env.question(347, 589), env.answer(347, 589), 3, Split.TRAIN,
        Map.of("a", 347L, "b", 589L, "width", 4L, "answer", env.answer(347, 589)));
  }

  @Test
  void questionsAndReversedFixedWidthAnswers() {
    AdditionEnvironment env = at(FeedbackLevel.FULL);
    assertThat(env.question(347, 589)).isEqualTo("0347+0589=");
    assertThat(env.answer(347, 589)).isEqualTo("63900");
    assertThat(env.answer(9999, 9999)).isEqualTo("89991");
    assertThat(env.answer(0, 0)).isEqualTo("00000");
    assertThat(new AdditionEnvironment(2, FeedbackLevel.NONE).question(5, 41)).isEqualTo("05+41=");
  }

  @Test
  void feedbackLevelsFromNothingToTheAnswer() {
    Task t = task347plus589();
    assertThat(at(FeedbackLevel.FULL).verify(t, "63900").success()).isTrue();
    assertThat(at(FeedbackLevel.FULL).verify(t, "63900\n").success()).isTrue();
    assertThat(at(FeedbackLevel.FULL).verify(t, " 63900").success()).isFalse();
    assertThat(at(FeedbackLevel.FULL).verify(t, "64900").feedback()).isEqualTo("63900");
    assertThat(at(FeedbackLevel.PARTIAL).verify(t, "64900").feedback()).isEqualTo("?3???");
    assertThat(at(FeedbackLevel.PARTIAL).verify(t, "649").feedback()).isEqualTo("?3?00");
    assertThat(at(FeedbackLevel.PARTIAL).verify(t, "6390099").feedback()).isEqualTo("?????");
    assertThat(at(FeedbackLevel.UNUSABLE).verify(t, "64900").feedback()).isEqualTo("too high");
    assertThat(at(FeedbackLevel.UNUSABLE).verify(t, "62900").feedback()).isEqualTo("too low");
    assertThat(at(FeedbackLevel.UNUSABLE).verify(t, "6x900").feedback()).isEqualTo("not a number");
    assertThat(at(FeedbackLevel.NONE).verify(t, "64900").feedback()).isEmpty();
    assertThat(at(FeedbackLevel.FULL).verify(t, "6x900").kind()).isEqualTo("format_error");
    assertThat(at(FeedbackLevel.FULL).verify(t, "64900").kind()).isEqualTo("wrong_answer");
  }

  @Test
  void wrongPositionsAreTheWrongCharactersOfTheAttempt() {
    Task t = task347plus589();
    AdditionEnvironment env = at(FeedbackLevel.FULL);
    assertThat(env.verify(t, "64901").details().get("wrong_positions")).isEqualTo(List.of(1L, 4L));
    assertThat(env.verify(t, "6390077").details().get("wrong_positions")).isEqualTo(List.of(5L, 6L));
    assertThat(env.verify(t, "").details().get("wrong_positions")).isEqualTo(List.of());
  }

  @Test
  void levelsItDoesNotOfferAreRefusedByName() {
    assertThat(at(FeedbackLevel.FULL).levels()).containsExactly(FeedbackLevel.NONE,
        FeedbackLevel.UNUSABLE, FeedbackLevel.PARTIAL, FeedbackLevel.FULL);
    assertThatThrownBy(() -> at(FeedbackLevel.FULL).withFeedback(FeedbackLevel.SUMMARY))
        .hasMessage("addition: feedback level 'summary' is not offered (offered: none, unusable, "
            + "partial, full)");
    assertThatThrownBy(() -> Verifiers.byName("code").withFeedback(FeedbackLevel.PARTIAL))
        .hasMessageContaining("code: feedback level 'partial' is not offered");
    assertThatThrownBy(() -> new AdditionEnvironment(0, FeedbackLevel.FULL))
        .hasMessageContaining("width");
  }

  @Test
  void difficultyIsTheLongerOperandsDigitCount() {
    AdditionEnvironment env = at(FeedbackLevel.FULL);
    for (int d = 1; d <= 4; d++) {
      for (Task t : env.tasks(Split.TRAIN, 50, d, d)) {
        long a = (Long) t.data().get("a");
        long b = (Long) t.data().get("b");
        assertThat(Long.toString(Math.max(a, b)).length()).as(t.prompt()).isEqualTo(d);
        assertThat(t.difficulty()).isEqualTo(d);
        assertThat(env.verify(t, t.reference()).success()).isTrue();
        assertThat(t.prompt()).hasSize(10);
        assertThat(t.reference()).hasSize(5);
      }
    }
    Set<Integer> mixed = new HashSet<>();
    env.tasks(Split.TEST, 100, 3, 0).forEach(t -> mixed.add(t.difficulty()));
    assertThat(mixed).containsExactlyInAnyOrder(1, 2, 3, 4);
  }

  @Test
  void teachingAttemptsFailWithTheirFeedback() {
    for (FeedbackLevel level : at(FeedbackLevel.FULL).levels()) {
      for (TeachingExample e : at(level).teaching(Split.TRAIN, 60, 4)) {
        assertThat(e.verdict().success()).isFalse();
        assertThat(e.wrongAttempt()).hasSize(5);
        if (level != FeedbackLevel.NONE) {
          assertThat(e.verdict().feedback()).isNotBlank();
        }
      }
    }
  }

  /** Any attempt: the verdict agrees with the position-by-position truth, at every level. */
  @Test
  void verdictsAgreeWithTheDigitsProperty() {
    List<Task> tasks = at(FeedbackLevel.FULL).tasks(Split.TRAIN, 30, 9, 0);
    qt().withFixedSeed(31L).withExamples(500)
        .forAll(integers().between(0, tasks.size() - 1), longs().between(0, 1_000_000),
            integers().between(-1, 9_999_999))
        .checkAssert((i, seed, number) -> {
          String junk = number < 0 ? "" : String.valueOf(number);
          Task t = tasks.get(i);
          Random r = new Random(seed);
          String attempt = r.nextInt(3) == 0 ? junk : mutateDigits(t.reference(), r);
          String want = t.reference();
          Verdict full = at(FeedbackLevel.FULL).verify(t, attempt);
          Verdict partial = at(FeedbackLevel.PARTIAL).verify(t, attempt);
          assertThat(full.success()).isEqualTo(attempt.equals(want));
          if (!full.success()) {
            assertThat(full.feedback()).isEqualTo(want);
            String hint = partial.feedback();
            assertThat(hint).hasSize(want.length());
            for (int k = 0; k < want.length(); k++) {
              boolean right = k < attempt.length() && attempt.charAt(k) == want.charAt(k);
              assertThat(hint.charAt(k)).isEqualTo(right ? '?' : want.charAt(k));
              assertThat(((List<?>) full.details().get("wrong_positions")).contains((long) k))
                  .isEqualTo(k < attempt.length() && !right);
            }
          }
        });
  }

  private static String mutateDigits(String s, Random r) {
    char[] c = s.toCharArray();
    for (int k = 0; k < r.nextInt(3); k++) {
      int i = r.nextInt(c.length);
      c[i] = (char) ('0' + r.nextInt(10));
    }
    return new String(c);
  }
}
