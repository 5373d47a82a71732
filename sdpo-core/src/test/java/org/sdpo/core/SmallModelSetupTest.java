package org.sdpo.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sdpo.tensor.Rng;
import org.sdpo.transformer.tokenizer.CharTokenizer;
import org.sdpo.verifiers.Environment;
import org.sdpo.verifiers.FeedbackLevel;
import org.sdpo.verifiers.Split;
import org.sdpo.verifiers.TeachingExample;
import org.sdpo.verifiers.Verifiers;

/**
 * What a small model needs to read its context: compact templates, teaching documents at each
 * feedback level, base-model recipes, and the probe that chooses the checkpoint.
 */
class SmallModelSetupTest {
  @TempDir Path dir;
  final CharTokenizer tok = CharTokenizer.ascii();

  @Test
  void compactTemplatesPutTheHintAtAFixedDistanceFromTheAnswer() {
    Reprompt.Templates c = Reprompt.Templates.compact();
    assertThat(Reprompt.assemble("0347+0589=", null, "63900", c)).isEqualTo("0347+0589=|F63900|");
    assertThat(Reprompt.assemble("0347+0589=", "63900", null, c)).isEqualTo("0347+0589=|S63900|");
    assertThat(Reprompt.assemble("0001+0002=", null, "?3???", c)).hasSize(18);
    assertThat(Reprompt.Templates.named("reference")).isEqualTo(Reprompt.Templates.reference());
    assertThatThrownBy(() -> Reprompt.Templates.named("short"))
        .hasMessage("unknown template set 'short': expected reference or compact");
    // a group: the failed attempt of a group with a success gets the sibling, the other feedback
    List<Reprompt.Attempt> g = List.of(new Reprompt.Attempt(0, "01+02=", "300", 1, ""),
        new Reprompt.Attempt(0, "01+02=", "400", 0, "300"),
        new Reprompt.Attempt(1, "05+05=", "000", 0, "010"));
    Reprompt.Result r = Reprompt.build(g, new Reprompt.Config(c, true, true, true, 1.0, 26,
        Reprompt.Truncation.ERROR), new Rng(1), tok);
    assertThat(r.contexts().get(1).text()).isEqualTo("01+02=|S300|");
    assertThat(r.contexts().get(2).text()).isEqualTo("05+05=|F010|");
  }

  @Test
  void trainConfigChoosesTheTemplateSetAndChecksTheFeedbackLevel() {
    Map<String, Object> m = new java.util.LinkedHashMap<>(Map.of("model", "x", "env", "addition",
        "feedback", "partial", "templates", "compact"));
    TrainConfig c = TrainConfig.of(m);
    assertThat(c.templates()).isEqualTo(Reprompt.Templates.compact());
    m.put("feedback_template", "<{feedback_raw}>");
    assertThat(TrainConfig.of(m).templates().feedback()).isEqualTo("<{feedback_raw}>");
    assertThat(TrainConfig.of(m).templates().solution()).isEqualTo("|S{successful_previous_attempt}");
    m.put("feedback", "summary");
    assertThatThrownBy(() -> TrainConfig.of(m)).hasMessage("option 'feedback': addition: feedback "
        + "level 'summary' is not offered (offered: none, unusable, partial, full)");
    m.put("feedback", "full");
    m.put("templates", "tiny");
    assertThatThrownBy(() -> TrainConfig.of(m)).hasMessageContaining("'templates' must be one of");
    assertThat(TrainConfig.of(Map.of("model", "x")).templates())
        .isEqualTo(Reprompt.Templates.reference());
  }

  @Test
  void teachingDocumentsAtEachRequestedLevel() {
    Environment env = Verifiers.byName("addition");
    Reprompt.Templates c = Reprompt.Templates.compact();
    TeachingCorpus.Mix mix = new TeachingCorpus.Mix(0, 1,
        TeachingCorpus.Mix.parseRates("full:2,partial:1,unusable:0.5"), 1.0);
    List<TeachingCorpus.Doc> docs = TeachingCorpus.docs(env, 40, 3, c, mix);
    assertThat(TeachingCorpus.docs(env, 40, 3, c, mix)).isEqualTo(docs);
    TeachingExample first = env.teaching(Split.TRAIN, 64, 3).get(0);
    String q = first.task().prompt();
    String answer = first.solution();
    String partial = env.withFeedback(FeedbackLevel.PARTIAL).verify(first.task(),
        first.wrongAttempt()).feedback();
    assertThat(docs.subList(0, 4)).containsExactly(new TeachingCorpus.Doc(q, answer),
        new TeachingCorpus.Doc(q + "|F" + answer + "|", answer),
        new TeachingCorpus.Doc(q + "|F" + answer + "|", answer),
        new TeachingCorpus.Doc(q + "|F" + partial + "|", answer));
    assertThat(partial).contains("?");
    long plain = docs.stream().filter(d -> !d.prompt().contains("|")).count();
    long unusable = docs.stream().filter(d -> d.prompt().contains("|Ftoo ")).count();
    long demos = docs.stream().filter(d -> d.prompt().contains("|S")).count();
    assertThat(plain).isEqualTo(40);
    assertThat(demos).isEqualTo(40);
    assertThat(unusable).isBetween(10L, 30L);
    assertThat(docs).allMatch(d -> d.completion().equals(d.completion().trim()) && d.completion()
        .length() == 5);
    assertThat(TeachingCorpus.pairsJsonl(docs.subList(0, 1)))
        .containsExactly("{\"prompt\":\"" + q + "\",\"completion\":\"" + answer + "\"}");
    assertThatThrownBy(() -> TeachingCorpus.Mix.parseRates("full=1"))
        .hasMessageContaining("expected level:rate");
    assertThatThrownBy(() -> TeachingCorpus.Mix.parseRates("loud:1"))
        .hasMessageContaining("unknown feedback level 'loud'");
    assertThat(TeachingCorpus.Mix.formatRates(TeachingCorpus.Mix.parseRates("full:2,partial:0.5")))
        .isEqualTo("full:2.0,partial:0.5");
  }

  @Test
  void baseModelSpecsFromRecipesAndOverridesNameBadKeys() {
    BaseModels.Spec a = BaseModels.recipe("addition", 1);
    assertThat(a.layout()).isEqualTo("documents");
    assertThat(a.templates()).isEqualTo("compact");
    assertThat(BaseModels.Spec.fromMap(Map.of(), a)).isEqualTo(a);
    assertThat(BaseModels.Spec.fromMap(Map.of("steps", 10L), a).steps()).isEqualTo(10);
    assertThat(BaseModels.Spec.fromMap(Map.of("steps", 10L), a).hash()).isNotEqualTo(a.hash());
    assertThatThrownBy(() -> BaseModels.Spec.fromMap(Map.of("n_layers", 2L), a))
        .hasMessageContaining("unknown key 'n_layers'");
    assertThatThrownBy(() -> BaseModels.Spec.fromMap(Map.of("steps", "many"), a))
        .hasMessageContaining("'steps' must be a number");
    assertThatThrownBy(() -> BaseModels.Spec.fromMap(Map.of("feedback_docs", "summary:1"), a))
        .hasMessageContaining("feedback level 'summary' is not offered");
    assertThatThrownBy(() -> BaseModels.Spec.fromMap(Map.of("layout", "rows"), a))
        .hasMessageContaining("unknown layout 'rows'");
    assertThatThrownBy(() -> BaseModels.Spec.fromMap(Map.of("probe_every", 0L), a))
        .hasMessageContaining("stop_at_student needs probe_every");
    assertThatThrownBy(() -> BaseModels.recipe("big", 1)).hasMessageContaining("unknown recipe");
    assertThat(BaseModels.RECIPES).allSatisfy(n -> BaseModels.recipe(n, 1));
  }

  @Test
  void theProbeStopsOnlyInsideTheWindow() {
    BaseModels.Spec a = BaseModels.recipe("addition", 1);
    GapProbe p = new GapProbe(Verifiers.byName("addition"), tok, a.probeSettings(6, 1), 25, 0.10);
    assertThat(a.probeSettings(6, 1).levels()).containsExactly(FeedbackLevel.PARTIAL,
        FeedbackLevel.FULL);
    assertThat(p.stop(Map.of("student", 0.12, "teacher_full", 0.9))).isTrue();
    assertThat(p.stop(Map.of("student", 0.05, "teacher_full", 0.9))).isFalse(); // too few
    assertThat(p.stop(Map.of("student", 0.12, "teacher_full", 0.7))).isFalse(); // teacher weak
    assertThat(p.stop(Map.of("student", 0.6, "teacher_full", 0.85))).isFalse(); // gap < 0.3
    assertThat(new GapProbe(Verifiers.byName("addition"), tok, a.probeSettings(6, 1), 25, 0)
        .stop(Map.of("student", 0.12, "teacher_full", 0.9))).isFalse(); // no stop rule
  }

  @Test
  void baseModelsAreCachedAndStoppedByTheProbe() throws Exception {
    BaseModels.Spec micro = BaseModels.Spec.fromMap(Map.of("stop_at_student", 0.0),
        BaseModels.recipe("addition-micro", 1));
    List<String> log = new java.util.ArrayList<>();
    Path d = BaseModels.ensure(micro, dir, 6, log::add, null);
    assertThat(d).isEqualTo(BaseModels.dir(micro, dir));
    assertThat(d.getFileName().toString()).startsWith("base-addition-");
    // the name covers the teaching corpus too: other templates, another directory
    assertThat(BaseModels.dir(BaseModels.Spec.fromMap(Map.of("templates", "reference"), micro), dir))
        .isNotEqualTo(d);
    assertThat(Files.readString(d.resolve(BaseModels.INFO))).contains("\"steps_trained\" : 20",
        "\"probe\"", "\"layout\" : \"documents\"");
    assertThat(Files.readAllLines(d.resolve("corpus.jsonl")).get(0)).startsWith("{\"prompt\":");
    assertThat(BaseModels.ensure(micro, dir, 6, log::add, null)).isEqualTo(d);
    assertThat(log).anyMatch(l -> l.contains("reusing"));
  }
}
