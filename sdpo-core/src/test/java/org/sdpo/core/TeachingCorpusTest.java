package org.sdpo.core;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.sdpo.tensor.DType;
import org.sdpo.tensor.Rng;
import org.sdpo.transformer.Gpt;
import org.sdpo.transformer.GptConfig;
import org.sdpo.transformer.tokenizer.CharTokenizer;
import org.sdpo.verifiers.Environment;
import org.sdpo.verifiers.FeedbackLevel;
import org.sdpo.verifiers.Split;
import org.sdpo.verifiers.Verifiers;

class TeachingCorpusTest {
  @Test
  void documentsUseTheTrainersExactStringsAndAreReproducible() {
    Environment env = Verifiers.byName("code").withFeedback(FeedbackLevel.FULL);
    Reprompt.Templates t = Reprompt.Templates.reference();
    List<String> docs = TeachingCorpus.documents(env, 20, 3, t);
    assertThat(docs).hasSizeGreaterThanOrEqualTo(40);
    assertThat(TeachingCorpus.documents(env, 20, 3, t)).isEqualTo(docs);
    var first = env.teaching(Split.TRAIN, 20, 3).get(0);
    assertThat(docs.get(0)).isEqualTo(first.task().prompt() + first.solution());
    assertThat(docs.get(1)).isEqualTo(Reprompt.assemble(first.task().prompt(), null,
        first.verdict().feedback(), t) + first.solution());
    assertThat(docs).anyMatch(d -> d.contains("\nCorrect solution:\n\n"));
    assertThat(TeachingCorpus.jsonl(List.of("a\"b\n"))).containsExactly("{\"text\":\"a\\\"b\\n\"}");
  }

  @Test
  void mixKeepsOneDifficultyAndWeightsPlainDocuments() {
    Environment env = Verifiers.byName("code").withFeedback(FeedbackLevel.FULL);
    Reprompt.Templates t = Reprompt.Templates.reference();
    List<String> docs = TeachingCorpus.documents(env, 30, 5, t,
        new TeachingCorpus.Mix(2, 3, true, 0.0));
    long plain = docs.stream().filter(d -> !d.contains("Correctly solve")).count();
    long withFeedback = docs.stream().filter(d -> d.contains("unsuccessful earlier attempt")).count();
    assertThat(plain).isEqualTo(90);
    assertThat(withFeedback).isEqualTo(30);
    assertThat(docs).noneMatch(d -> d.contains("Correct solution:"));
    // difficulty 2 is the conditional family: every solution has an if
    assertThat(docs).allMatch(d -> d.contains("    if "));
  }

  @Test
  void selfTeacherAdvantageReportsThreeAccuracies() {
    CharTokenizer tok = CharTokenizer.ascii();
    Gpt m = Gpt.init(GptConfig.of(tok.vocabSize(), 512, 16, 1, 2), DType.FLOAT32, new Rng(1));
    Environment env = Verifiers.byName("arith").withFeedback(FeedbackLevel.FULL);
    Map<String, Double> r = SelfTeacherAdvantage.measure(m, tok, env,
        env.tasks(Split.TEST, 3, 1, 1), 2, 4, 1, Reprompt.Templates.reference(), 1);
    assertThat(r).containsKeys("accuracy", "accuracy_with_feedback", "feedback_cases",
        "accuracy_with_demonstration");
    assertThat(r.get("accuracy")).isBetween(0.0, 1.0);
    assertThat(r.get("feedback_cases")).isEqualTo(6.0 * (1 - r.get("accuracy")));
  }
}
