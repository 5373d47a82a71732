package org.sdpo.core;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;
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
}
