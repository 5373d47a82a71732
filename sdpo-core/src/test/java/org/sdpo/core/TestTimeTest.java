package org.sdpo.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.sdpo.tensor.DType;
import org.sdpo.tensor.Rng;
import org.sdpo.transformer.CausalLm;
import org.sdpo.transformer.Gpt;
import org.sdpo.transformer.GptConfig;
import org.sdpo.transformer.tokenizer.CharTokenizer;
import org.sdpo.verifiers.FeedbackLevel;
import org.sdpo.verifiers.Split;
import org.sdpo.verifiers.Task;
import org.sdpo.verifiers.Verifiers;

class TestTimeTest {
  @Test
  void unbiasedPassAtKAndDiscovery() {
    assertThat(TestTime.passAtK(10, 2, 1)).isCloseTo(0.2, within(1e-12));
    assertThat(TestTime.passAtK(10, 2, 9)).isEqualTo(1.0);
    assertThat(TestTime.passAtK(10, 0, 5)).isCloseTo(0.0, within(1e-12));
    // 1 - C(8,2)/C(10,2) = 1 - 28/45
    assertThat(TestTime.passAtK(10, 2, 2)).isCloseTo(1 - 28.0 / 45, within(1e-12));
    int[] first = {3, 17, 65, 5};
    assertThat(TestTime.discovery(first, 4)).isEqualTo(0.25);
    assertThat(TestTime.discovery(first, 64)).isEqualTo(0.75);
    double[] ci = TestTime.bootstrap(first, 16, 1);
    assertThat(ci[0]).isLessThanOrEqualTo(0.5).isGreaterThanOrEqualTo(0);
    assertThat(ci[1]).isGreaterThanOrEqualTo(0.5).isLessThanOrEqualTo(1);
  }

  @Test
  void allThreeMethodsRunWithinTheBudget() {
    CharTokenizer tok = CharTokenizer.ascii();
    CausalLm base = Gpt.init(GptConfig.of(tok.vocabSize(), 256, 16, 1, 2), DType.FLOAT32, new Rng(1));
    var env = Verifiers.byName("arith").withFeedback(FeedbackLevel.FULL);
    Task task = env.tasks(Split.TEST, 1, 1, 1).get(0);
    TestTime.Settings s = new TestTime.Settings(4, 8, 1e-3, Teacher.Kind.EMA, 0.01,
        DistillConfig.reverseKlTopK(5), 5.0, 1.0, 4, Reprompt.Templates.reference(), 1);
    int a = TestTime.sdpo(base, tok, env, task, s, 1);
    int b = TestTime.multiTurn(base, tok, env, task, s, 1);
    assertThat(a).isBetween(1, 9);
    assertThat(b).isBetween(1, 9);
    assertThat(TestTime.bestOfK(base, tok, env, task, s, 8, 1)).isBetween(0, 8);
    // the base model is untouched by test-time training (each seed starts from a fresh copy)
    assertThat(TestTime.sdpo(base, tok, env, task, s, 1)).isEqualTo(a);
  }

  @Test
  void multiTurnPromptsHoldEveryPastFeedbackInTheTemplates() {
    assertThat(TestTime.multiTurnPrompt("K0417=", List.of(), Reprompt.Templates.compact()))
        .isEqualTo("K0417=");
    assertThat(TestTime.multiTurnPrompt("K0417=", List.of("a???????", "??c?????"),
        Reprompt.Templates.compact())).isEqualTo("K0417=|Fa???????|F??c?????|");
    assertThat(TestTime.multiTurnPrompt("Q", List.of("x"), Reprompt.Templates.reference()))
        .isEqualTo(Reprompt.assemble("Q", null, "x", Reprompt.Templates.reference()));
  }

  /** A batch of 0 once looped for ever (the budget was never spent); a budget of 0 printed a table. */
  @Test
  void settingsThatCannotRunAreRefused() {
    for (int[] bad : new int[][] {{0, 8, 4, 1}, {4, 0, 4, 1}, {4, 8, 0, 1}, {4, 8, 4, 0}}) {
      org.assertj.core.api.Assertions.assertThatThrownBy(() -> new TestTime.Settings(bad[0], bad[1],
          1e-3, Teacher.Kind.EMA, 0.01, DistillConfig.reverseKlTopK(5), 5.0, 1.0, bad[2],
          Reprompt.Templates.reference(), bad[3])).isInstanceOf(IllegalArgumentException.class)
          .hasMessageStartingWith("test-time: batch, budget, max_new_tokens and threads must be >= 1");
    }
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> new TestTime.Settings(4, 8, 0.0,
        Teacher.Kind.EMA, 0.01, DistillConfig.reverseKlTopK(5), 5.0, 1.0, 4,
        Reprompt.Templates.reference(), 1)).hasMessageContaining("lr and the temperature > 0");
  }
}
