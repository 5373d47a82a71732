package org.sdpo.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.sdpo.autograd.F;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.DType;
import org.sdpo.tensor.Rng;
import org.sdpo.tensor.Tensor;
import org.sdpo.transformer.CausalLm;
import org.sdpo.transformer.Gpt;
import org.sdpo.transformer.GptConfig;
import org.sdpo.transformer.tokenizer.CharTokenizer;

class RepromptAndTeacherTest {
  final CharTokenizer tok = CharTokenizer.ascii();

  static Reprompt.Attempt a(int group, String response, double reward, String feedback) {
    return new Reprompt.Attempt(group, "Q{x}?", response, reward, feedback);
  }

  @Test
  void aSampleNeverGetsItsOwnSuccessAsDemonstration() {
    List<Reprompt.Attempt> g = List.of(a(0, "good1", 1, ""), a(0, "bad", 0, "err"),
        a(0, "good2", 1, ""), a(1, "lone", 1, ""), a(1, "bad2", 0, ""));
    for (long seed = 0; seed < 50; seed++) {
      Reprompt.Result r = Reprompt.build(g, Reprompt.Config.richFeedback(1000), new Rng(seed), tok);
      for (int i = 0; i < g.size(); i++) {
        assertThat(r.contexts().get(i).demonstration()).isNotEqualTo(i);
      }
      assertThat(r.contexts().get(0).demonstration()).isEqualTo(2);
      assertThat(r.contexts().get(2).demonstration()).isEqualTo(0);
      assertThat(r.contexts().get(1).demonstration()).isIn(0, 2);
      assertThat(r.contexts().get(3).masked()).isFalse(); // a lone success has no other success
      assertThat(r.contexts().get(4).demonstration()).isEqualTo(3);
    }
  }

  @Test
  void masksForAllFailLoneSuccessAndAllSuccessGroups() {
    List<Reprompt.Attempt> allFail = List.of(a(0, "x", 0, ""), a(0, "y", 0, ""));
    Reprompt.Result r = Reprompt.build(allFail, Reprompt.Config.siblingsOnly(1000), new Rng(1), tok);
    assertThat(r.contexts()).allMatch(c -> !c.masked());
    assertThat(r.contexts().get(0).text()).isEqualTo("Q{x}?"); // the original prompt
    assertThat(r.metrics().get("reprompt_sample_fraction")).isEqualTo(0.0);
    List<Reprompt.Attempt> allSuccess = List.of(a(0, "s1", 1, ""), a(0, "s2", 1, ""));
    Reprompt.Result s = Reprompt.build(allSuccess, Reprompt.Config.siblingsOnly(1000), new Rng(1), tok);
    assertThat(s.contexts()).allMatch(Reprompt.Context::masked);
    assertThat(s.metrics().get("success_group_fraction")).isEqualTo(1.0);
    // feedback only: an all-fail group with feedback is distilled
    List<Reprompt.Attempt> withFb = List.of(a(0, "x", 0, "line 1: boom"), a(0, "y", 0, ""));
    Reprompt.Result f = Reprompt.build(withFb, Reprompt.Config.richFeedback(1000), new Rng(1), tok);
    assertThat(f.contexts().get(0).masked()).isTrue();
    assertThat(f.contexts().get(0).usesFeedback()).isTrue();
    assertThat(f.contexts().get(1).masked()).isFalse();
    assertThat(f.metrics().get("feedback_used_fraction")).isEqualTo(0.5);
  }

  @Test
  void templatesMatchTheReferenceAndBracesSurvive() {
    List<Reprompt.Attempt> g = List.of(a(0, "def f(x): return {1: x}", 1, ""),
        a(0, "bad", 0, "KeyError: {feedback_raw} {prompt}"));
    Reprompt.Result r = Reprompt.build(g, Reprompt.Config.richFeedback(1000), new Rng(3), tok);
    assertThat(r.contexts().get(1).text()).isEqualTo("Q{x}?\nCorrect solution:\n\n"
        + "def f(x): return {1: x}\n\nCorrectly solve the original question.");
    Reprompt.Config fbAlways = new Reprompt.Config(Reprompt.Templates.reference(), true, false,
        true, 1.0, 1000, Reprompt.Truncation.CUT_CONTEXT);
    Reprompt.Result both = Reprompt.build(g, fbAlways, new Rng(3), tok);
    assertThat(both.contexts().get(1).text()).isEqualTo("Q{x}?\nCorrect solution:\n\n"
        + "def f(x): return {1: x}\nThe following is feedback from your unsuccessful earlier "
        + "attempt:\n\nKeyError: {feedback_raw} {prompt}\n\nCorrectly solve the original question.");
  }

  /** remove_thinking_from_demonstration: every think block and the whitespace after it go. */
  @Test
  void thinkingIsRemovedFromDemonstrationsWhenAsked() {
    List<Reprompt.Attempt> g = List.of(
        a(0, "<think>\nplan A\n</think>\n\n42 <think>again</think> done", 1, ""),
        a(0, "bad", 0, ""));
    Reprompt.Config keep = Reprompt.Config.richFeedback(1000);
    Reprompt.Config remove = new Reprompt.Config(keep.templates(), true, true, true, 1.0, 1000,
        Reprompt.Truncation.CUT_CONTEXT, true);
    assertThat(Reprompt.build(g, keep, new Rng(3), tok).contexts().get(1).text())
        .contains("<think>\nplan A\n</think>");
    assertThat(Reprompt.build(g, remove, new Rng(3), tok).contexts().get(1).text())
        .isEqualTo("Q{x}?\nCorrect solution:\n\n42 done\n\nCorrectly solve the original question.");
  }

  /**
   * With a chat template, student prompts and teacher contexts are the user's turn followed by the
   * assistant header; the context's length limit counts the formatted tokens.
   */
  @Test
  void chatPromptsFormatTeacherContextsAndCountTheirTokens() {
    var chat = org.sdpo.transformer.tokenizer.ChatPrompts.of(tok,
        org.sdpo.transformer.tokenizer.ChatTemplate.of("{% for m in messages %}<u>{{ m.content }}"
            + "</u>{% endfor %}{% if add_generation_prompt %}<a>{% endif %}", java.util.Map.of()),
        java.util.Map.of());
    assertThat(chat.format("Q?")).isEqualTo("<u>Q?</u><a>");
    assertThat(chat.encodePrompt("Q?")).containsExactly(tok.encode("<u>Q?</u><a>"));
    assertThat(chat.encode("Q?")).containsExactly(tok.encode("Q?"));
    List<Reprompt.Attempt> g = List.of(a(0, "bad", 0, "x".repeat(500)));
    Reprompt.Config c = new Reprompt.Config(Reprompt.Templates.reference(), true, true, true, 1.0,
        150, Reprompt.Truncation.CUT_CONTEXT);
    String text = Reprompt.build(g, c, new Rng(1), chat).contexts().get(0).text();
    assertThat(chat.encodePrompt(text).length).isLessThanOrEqualTo(150);
    assertThat(chat.encodePrompt(text).length).isGreaterThan(140);
  }

  @Test
  void truncationNeverCutsTheInstructionAndCanFail() {
    String longFeedback = "x".repeat(500);
    List<Reprompt.Attempt> g = List.of(a(0, "bad", 0, longFeedback));
    Reprompt.Config c = new Reprompt.Config(Reprompt.Templates.reference(), true, true, true, 1.0,
        150, Reprompt.Truncation.CUT_CONTEXT);
    String text = Reprompt.build(g, c, new Rng(1), tok).contexts().get(0).text();
    assertThat(tok.encode(text).length).isLessThanOrEqualTo(150);
    assertThat(text).startsWith("Q{x}?\nThe following is feedback")
        .endsWith("\n\nCorrectly solve the original question.");
    Reprompt.Config strict = new Reprompt.Config(Reprompt.Templates.reference(), true, true, true,
        1.0, 150, Reprompt.Truncation.ERROR);
    assertThatThrownBy(() -> Reprompt.build(g, strict, new Rng(1), tok))
        .hasMessageContaining("attempt 0").hasMessageContaining("max_reprompt_len 150");
  }

  CausalLm model(long seed) {
    return Gpt.init(GptConfig.of(tok.vocabSize(), 16, 8, 1, 2), DType.FLOAT64, new Rng(seed));
  }

  @Test
  void emaMovesTheTeacherTowardsTheStudentByTheRate() {
    CausalLm student = model(1);
    Teacher t = Teacher.create(Teacher.Kind.EMA, student, 0.05);
    double t0 = t.weights().namedParameters().get("wte.weight").value().get(3, 2);
    // change the student
    CausalLm other = model(2);
    student.copyWeightsFrom(other);
    double s = student.namedParameters().get("wte.weight").value().get(3, 2);
    t.update(true);
    double t1 = t.weights().namedParameters().get("wte.weight").value().get(3, 2);
    assertThat(t1).isCloseTo(0.95 * t0 + 0.05 * s, within(1e-15));
    t.update(false); // no optimizer step this round: no update
    assertThat(t.weights().namedParameters().get("wte.weight").value().get(3, 2)).isEqualTo(t1);
    Teacher frozen = Teacher.create(Teacher.Kind.FROZEN, student, 0.05);
    double f0 = frozen.weights().namedParameters().get("h.0.ln_1.bias").value().get(1);
    student.copyWeightsFrom(model(3));
    frozen.update(true);
    assertThat(frozen.weights().namedParameters().get("h.0.ln_1.bias").value().get(1)).isEqualTo(f0);
  }

  @Test
  void theTeacherNeverReceivesGradientsAndTrustRegionInterpolatesLogits() {
    CausalLm student = model(1);
    Teacher ema = Teacher.create(Teacher.Kind.EMA, student, 0.05);
    int[] ids = tok.encode("abcdef");
    Tensor tl = ema.logits(ids, 1, 6, null, null);
    Variable sl = student.forward(ids, 1, 6);
    F.sum(F.mul(sl, Variable.constant(tl))).backward();
    assertThat(ema.weights().namedParameters().values()).allMatch(v -> v.grad() == null);
    assertThat(student.namedParameters().get("wte.weight").grad()).isNotNull();

    CausalLm s2 = model(4);
    Teacher tr = Teacher.create(Teacher.Kind.TRUST_REGION, s2, 0.25);
    Tensor initial = tr.logits(ids, 1, 6, null, null);
    s2.copyWeightsFrom(model(5));
    Tensor current = model(5).forward(ids, 1, 6).value();
    Tensor mixed = tr.logits(ids, 1, 6, null, null);
    assertThat(mixed.maxAbsDiff(initial.mul(0.75).add(current.mul(0.25)))).isLessThan(1e-12);
  }
}
