package org.sdpo.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.sdpo.tensor.DType;
import org.sdpo.tensor.Rng;
import org.sdpo.tensor.Tensor;
import org.sdpo.transformer.CausalLm;
import org.sdpo.transformer.Gpt;
import org.sdpo.transformer.GptConfig;
import org.sdpo.transformer.Llama;
import org.sdpo.transformer.LlamaConfig;
import org.sdpo.transformer.RopeConfig;
import org.sdpo.transformer.sample.Sampler;
import org.sdpo.transformer.tokenizer.CharTokenizer;
import org.sdpo.transformer.train.AdamW;
import org.sdpo.verifiers.Environment;
import org.sdpo.verifiers.FeedbackLevel;
import org.sdpo.verifiers.Split;
import org.sdpo.verifiers.Task;
import org.sdpo.verifiers.Verifiers;

/**
 * An update in chunks of response rows ({@link SdpoStep.Setup#logitsChunkBytes}) is the same
 * update as with all rows' logits at once, up to rounding: in float64, every algorithm, teacher
 * kind and mini-batch count ends with the same parameters, teacher, loss and statistics, for
 * chunks of a few rows that do not divide the batch.
 */
class ChunkedUpdateTest {
  final CharTokenizer tok = CharTokenizer.ascii();
  final Environment env = Verifiers.byName("addition").withFeedback(FeedbackLevel.FULL);
  final List<Task> questions = env.tasks(Split.TRAIN, 2, 5, 0);

  CausalLm gpt() {
    return Gpt.init(GptConfig.of(tok.vocabSize(), 256, 16, 2, 2), DType.FLOAT64, new Rng(6));
  }

  CausalLm qwen3() { // untied head, grouped-query attention
    var cfg = new LlamaConfig("qwen3", tok.vocabSize(), 16, 24, 2, 4, 2, 6, 256, 1e-6,
        RopeConfig.plain(1e6), false, false, false);
    return Llama.init(cfg, DType.FLOAT64, new Rng(4));
  }

  /** Parameters, teacher weights and metrics after one step, and the report's first rows. */
  record Outcome(Map<String, double[]> weights, Map<String, Double> metrics, Tensor studentLp,
      Tensor teacherLp) {}

  Outcome step(CausalLm student, SdpoStep.Algorithm algo, DistillConfig loss, Teacher.Kind kind,
      int miniBatches, long chunkBytes, CausalLm reference) {
    Teacher teacher = Teacher.create(kind, student, 0.1);
    SdpoStep.Setup setup = new SdpoStep.Setup(student, teacher, tok, env,
        Sampler.Settings.sample(1.0, 6, 3), 4, Reprompt.Config.richFeedback(200), loss, algo,
        new Grpo.Config(false, 0.2, 0.28, 2.0, reference == null ? 0.0 : 0.5),
        new AdamW(student.namedParameters(), AdamW.Settings.gpt()), 1e-2, 1.0, miniBatches, 1,
        reference).withLogitsChunkBytes(chunkBytes);
    SdpoStep.Report r = SdpoStep.run(setup, questions, new Rng(2));
    Map<String, double[]> w = new LinkedHashMap<>();
    student.namedParameters().forEach((n, v) -> w.put(n, v.value().toDoubleArray()));
    teacher.weights().namedParameters().forEach((n, v) -> w.put("teacher." + n,
        v.value().toDoubleArray()));
    return new Outcome(w, r.metrics(), r.studentLogprobs(), r.teacherLogprobs());
  }

  void assertSameUpdate(String what, java.util.function.Supplier<CausalLm> model,
      SdpoStep.Algorithm algo, DistillConfig loss, Teacher.Kind kind, int miniBatches,
      boolean withReference) {
    assertSameUpdate(what, model, algo, loss, kind, miniBatches, withReference, List.of("loss",
        "grad_norm", "entropy_mean", "is_weight_mean", "is_weight_max", "step_skipped",
        "reward_mean"));
  }

  void assertSameUpdate(String what, java.util.function.Supplier<CausalLm> model,
      SdpoStep.Algorithm algo, DistillConfig loss, Teacher.Kind kind, int miniBatches,
      boolean withReference, List<String> metrics) {
    CausalLm m0 = model.get();
    long fiveRows = 5L * m0.config().vocabSize() * DType.FLOAT64.bytes();
    Outcome whole = step(m0, algo, loss, kind, miniBatches, 0,
        withReference ? model.get() : null);
    Outcome chunked = step(model.get(), algo, loss, kind, miniBatches, fiveRows,
        withReference ? model.get() : null);
    assertThat(whole.metrics().get("update_chunks")).as(what).isEqualTo(1.0);
    assertThat(chunked.metrics().get("update_chunks")).as(what).isGreaterThan(2.0);
    for (String k : metrics) {
      double a = whole.metrics().get(k);
      double b = chunked.metrics().get(k);
      assertThat(Math.abs(a - b)).as(what + " " + k + ": " + a + " vs " + b)
          .isLessThanOrEqualTo(1e-10 * Math.max(1, Math.abs(a)));
    }
    whole.weights().forEach((n, a) -> {
      double[] b = chunked.weights().get(n);
      for (int i = 0; i < a.length; i++) {
        assertThat(Math.abs(a[i] - b[i])).as(what + " " + n + "[" + i + "]")
            .isLessThanOrEqualTo(1e-10 * Math.max(1, Math.abs(a[i])));
      }
    });
    if (whole.studentLp() == null) {
      assertThat(chunked.studentLp()).isNull();
      return;
    }
    // the report holds the first chunk's rows: the whole update's first rows
    int rows = chunked.studentLp().dim(0);
    assertThat(rows).as(what).isEqualTo(5);
    assertClose(what + " student rows", whole.studentLp().slice(0, 0, rows), chunked.studentLp());
    if (whole.teacherLp() != null) {
      assertClose(what + " teacher rows", whole.teacherLp().slice(0, 0, rows),
          chunked.teacherLp());
    }
  }

  static void assertClose(String what, Tensor a, Tensor b) {
    double[] x = a.toDoubleArray();
    double[] y = b.toDoubleArray();
    assertThat(y.length).as(what).isEqualTo(x.length);
    for (int i = 0; i < x.length; i++) {
      assertThat(Math.abs(x[i] - y[i])).as(what + "[" + i + "]")
          .isLessThanOrEqualTo(1e-10 * Math.max(1, Math.abs(x[i])));
    }
  }

  @Test
  void sdpoInChunksIsTheSameUpdateForEveryTeacherAndMiniBatchCount() {
    for (Teacher.Kind kind : Teacher.Kind.values()) {
      for (int mb : new int[] {1, 2}) {
        assertSameUpdate("sdpo " + kind + " mb " + mb, this::gpt, SdpoStep.Algorithm.sdpo(),
            DistillConfig.jensenShannonTopK(5), kind, mb, false);
      }
    }
  }

  @Test
  void everyLossInChunksIsTheSameUpdate() {
    Map<String, DistillConfig> losses = new LinkedHashMap<>();
    losses.put("reverse KL top-K", DistillConfig.reverseKlTopK(7));
    losses.put("full vocabulary", new DistillConfig(0.5, null, true, DistillConfig.Mode.LOGIT,
        1.3, null, null, DistillConfig.Aggregation.SEQ_MEAN_TOKEN_MEAN));
    losses.put("sampled token", new DistillConfig(1.0, null, true,
        DistillConfig.Mode.SAMPLED_TOKEN, 1.0, 2.0, null, DistillConfig.Aggregation.TOKEN_MEAN));
    losses.forEach((name, loss) -> assertSameUpdate(name, this::gpt, SdpoStep.Algorithm.sdpo(),
        loss, Teacher.Kind.EMA, 2, false));
  }

  @Test
  void grpoAndTheBlendsInChunksAreTheSameUpdate() {
    assertSameUpdate("grpo with KL", this::gpt, SdpoStep.Algorithm.grpo(),
        DistillConfig.reverseKlTopK(5), Teacher.Kind.EMA, 2, true);
    assertSameUpdate("blend_loss", this::gpt, new SdpoStep.Algorithm("blend_loss", 0, 0.5, null),
        DistillConfig.jensenShannonTopK(5), Teacher.Kind.EMA, 1, false);
    assertSameUpdate("blend_advantage", this::gpt,
        new SdpoStep.Algorithm("blend_advantage", 0.9, 0, 5.0),
        DistillConfig.jensenShannonTopK(5), Teacher.Kind.TRUST_REGION, 2, false);
  }

  @Test
  void theRevealedAnswersControlInChunksIsTheSameUpdate() {
    assertSameUpdate("sft_revealed", this::gpt, new SdpoStep.Algorithm("sft_revealed", 0, 0,
        null), DistillConfig.jensenShannonTopK(5), Teacher.Kind.EMA, 1, false,
        List.of("loss", "grad_norm", "step_skipped", "reward_mean", "sft_sample_fraction"));
  }

  @Test
  void anUntiedHeadInChunksIsTheSameUpdate() {
    assertSameUpdate("qwen3 sdpo", this::qwen3, SdpoStep.Algorithm.sdpo(),
        DistillConfig.jensenShannonTopK(5), Teacher.Kind.EMA, 2, false);
  }

  /**
   * The viewer's record of an update in chunks shows the rollouts whose rows lie in the first
   * chunk, with the values the update with all rows at once shows for them.
   */
  @SuppressWarnings("unchecked")
  @Test
  void theViewerShowsTheRolloutsOfTheFirstChunk() {
    List<List<Object>> shown = new java.util.ArrayList<>();
    for (long rows : new long[] {0, 13}) {
      CausalLm m = gpt();
      SdpoStep.Setup setup = new SdpoStep.Setup(m, Teacher.create(Teacher.Kind.EMA, m, 0.1), tok,
          env, Sampler.Settings.sample(1.0, 6, 3), 4, Reprompt.Config.richFeedback(200),
          DistillConfig.jensenShannonTopK(5), SdpoStep.Algorithm.sdpo(), Grpo.Config.reference(),
          new AdamW(m.namedParameters(), AdamW.Settings.gpt()), 1e-2, 1.0, 1, 1)
          .withLogitsChunkBytes(rows * m.config().vocabSize() * DType.FLOAT64.bytes());
      SdpoStep.Report r = SdpoStep.run(setup, questions, new Rng(2));
      shown.add((List<Object>) ViewerData.of(1, r, tok, 8).get("rollouts"));
    }
    List<Object> whole = shown.get(0);
    List<Object> chunked = shown.get(1);
    assertThat(whole).hasSize(8);
    assertThat(chunked).isNotEmpty().hasSizeLessThan(whole.size());
    int tokens = 0;
    for (int i = 0; i < chunked.size(); i++) {
      List<Map<String, Object>> a = (List<Map<String, Object>>) ((Map<String, Object>) whole
          .get(i)).get("tokens");
      List<Map<String, Object>> b = (List<Map<String, Object>>) ((Map<String, Object>) chunked
          .get(i)).get("tokens");
      assertThat(b).hasSameSizeAs(a);
      tokens += b.size();
      for (int k = 0; k < a.size(); k++) {
        for (String who : List.of("student", "teacher")) {
          assertThat((Double) b.get(k).get(who)).as(i + " " + k + " " + who)
              .isCloseTo((Double) a.get(k).get(who), org.assertj.core.data.Offset.offset(1e-10));
        }
        assertThat(b.get(k).get("text")).isEqualTo(a.get(k).get("text"));
      }
    }
    assertThat(tokens).isLessThanOrEqualTo(13);
  }

  @Test
  void theChunkIsBoundedByBytesOfLogitsAndZeroMeansAllRows() {
    CausalLm m = gpt();
    int V = m.config().vocabSize();
    SdpoStep.Setup s = new SdpoStep.Setup(m, Teacher.create(Teacher.Kind.EMA, m, 0.1), tok, env,
        Sampler.Settings.sample(1.0, 6, 3), 4, Reprompt.Config.richFeedback(200),
        DistillConfig.jensenShannonTopK(5), SdpoStep.Algorithm.sdpo(), Grpo.Config.reference(),
        new AdamW(m.namedParameters(), AdamW.Settings.gpt()), 1e-2, 1.0, 1, 1);
    assertThat(s.logitsChunkBytes()).isEqualTo(SdpoStep.DEFAULT_LOGITS_CHUNK_BYTES);
    assertThat(s.withLogitsChunkBytes(0).chunkRows()).isEqualTo(Integer.MAX_VALUE);
    assertThat(s.withLogitsChunkBytes(7L * V * 8 + 3).chunkRows()).isEqualTo(7);
    assertThat(s.withLogitsChunkBytes(1).chunkRows()).isEqualTo(1); // at least one row
    assertThatThrownBy(() -> s.withLogitsChunkBytes(-1))
        .hasMessageContaining("must be >= 0");
  }
}
