package org.sdpo.verifiers;

import static org.assertj.core.api.Assertions.assertThat;
import static org.quicktheories.QuickTheory.qt;
import static org.quicktheories.generators.SourceDSL.integers;
import static org.quicktheories.generators.SourceDSL.strings;

import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.sdpo.verifiers.key.KeyEnvironment;

class KeyEnvironmentTest {
  final KeyEnvironment full = new KeyEnvironment(FeedbackLevel.FULL);

  @Test
  void keysAreFixedPerLockAndLookRandom() {
    assertThat(KeyEnvironment.key(417)).isEqualTo(KeyEnvironment.key(417)).hasSize(8)
        .matches("[a-h]{8}");
    Set<String> keys = new HashSet<>();
    int[] counts = new int[8];
    for (int n = 0; n < 2000; n++) {
      String k = KeyEnvironment.key(n);
      keys.add(k);
      counts[k.charAt(3) - 'a']++;
    }
    assertThat(keys).hasSizeGreaterThan(1990); // almost no two locks share a key
    for (int c : counts) {
      assertThat(c).isBetween(180, 320); // about 250 each: no letter is predictable
    }
    assertThat(KeyEnvironment.question(417)).isEqualTo("K0417=");
  }

  @Test
  void theMaskRevealsExactlyTheRightLetters() {
    Task t = full.tasks(Split.TRAIN, 1, 3, 0).get(0);
    String key = t.reference();
    assertThat(full.verify(t, key).success()).isTrue();
    assertThat(full.verify(t, key + "\n").success()).isTrue();
    String wrong = "" + key.charAt(0) + (key.charAt(1) == 'a' ? 'b' : 'a') + key.substring(2, 7)
        + (key.charAt(7) == 'a' ? 'b' : 'a');
    Verdict v = full.verify(t, wrong);
    assertThat(v.feedback()).isEqualTo(key.charAt(0) + ("" + wrong.charAt(1)).toUpperCase()
        + key.substring(2, 7) + ("" + wrong.charAt(7)).toUpperCase());
    assertThat(v.details().get("wrong_positions")).isEqualTo(List.of(1L, 7L));
    assertThat(new KeyEnvironment(FeedbackLevel.UNUSABLE).verify(t, wrong).feedback())
        .isEqualTo("6 right");
    assertThat(new KeyEnvironment(FeedbackLevel.NONE).verify(t, wrong).feedback()).isEmpty();
    assertThat(full.verify(t, "").feedback()).isEqualTo("????????");
    assertThat(full.verify(t, "zz").feedback()).startsWith("??").hasSize(8);
  }

  @Test
  void verdictsAgreeWithTheLettersProperty() {
    List<Task> tasks = full.tasks(Split.TEST, 20, 5, 0);
    qt().withFixedSeed(41L).withExamples(400)
        .forAll(integers().between(0, 19), strings().betweenCodePoints('a', 'i')
            .ofLengthBetween(0, 10))
        .checkAssert((i, attempt) -> {
          Task t = tasks.get(i);
          Verdict v = full.verify(t, attempt);
          assertThat(v.success()).isEqualTo(attempt.equals(t.reference()));
          if (!v.success()) {
            String mask = v.feedback();
            assertThat(mask).hasSize(8);
            for (int k = 0; k < 8; k++) {
              boolean right = k < attempt.length() && attempt.charAt(k) == t.reference().charAt(k);
              char c = k < attempt.length() ? attempt.charAt(k) : '?';
              assertThat(mask.charAt(k)).isEqualTo(right ? t.reference().charAt(k)
                  : c >= 'a' && c <= 'h' ? Character.toUpperCase(c) : '?');
            }
          }
        });
  }

  @Test
  void teachingAttemptsFailAndRevealSomeLetters() {
    int revealed = 0;
    for (TeachingExample e : full.teaching(Split.TRAIN, 200, 2)) {
      assertThat(e.verdict().success()).isFalse();
      assertThat(e.wrongAttempt()).hasSize(8);
      revealed += e.verdict().feedback().chars().filter(Character::isLowerCase).count();
    }
    assertThat(revealed / 200.0).isBetween(3.0, 5.0); // 8 x 0.5 on average, less the spoiled
  }
}
