package org.sdpo.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.sdpo.autograd.Grad;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.DType;
import org.sdpo.tensor.Rng;
import org.sdpo.tensor.Tensor;
import org.sdpo.transformer.CausalLm;
import org.sdpo.transformer.Gpt;
import org.sdpo.transformer.GptConfig;
import org.sdpo.transformer.sample.Sampler;
import org.sdpo.transformer.tokenizer.CharTokenizer;
import org.sdpo.transformer.train.AdamW;
import org.sdpo.verifiers.FeedbackLevel;
import org.sdpo.verifiers.Split;
import org.sdpo.verifiers.Task;
import org.sdpo.verifiers.Verifiers;

class SdpoEndToEndTest {
  final CharTokenizer tok = CharTokenizer.ascii();

  CausalLm model(long seed, DType d) {
    return Gpt.init(GptConfig.of(tok.vocabSize(), 256, 16, 2, 2), d, new Rng(seed));
  }

  static DistillationLoss.Targets targets(List<Scoring.Sequence> seqs) {
    List<Integer> t = new ArrayList<>();
    List<Integer> s = new ArrayList<>();
    for (int i = 0; i < seqs.size(); i++) {
      for (int x : seqs.get(i).response()) {
        t.add(x);
        s.add(i);
      }
    }
    double[] m = new double[t.size()];
    java.util.Arrays.fill(m, 1);
    return new DistillationLoss.Targets(t.stream().mapToInt(Integer::intValue).toArray(),
        s.stream().mapToInt(Integer::intValue).toArray(), seqs.size(), m, null, null);
  }

  /**
   * The pad multiple changes how many pad positions are computed, not what the response
   * positions see: the logits agree across multiples (to rounding), a multiple past the model's
   * context is capped by it, and a multiple below 1 is an error that names it.
   */
  @Test
  void thePadMultipleChangesNoResponseLogit() {
    CausalLm m = model(2, DType.FLOAT64);
    List<Scoring.Sequence> seqs = List.of(new Scoring.Sequence(tok.encode("What?"),
        tok.encode("42")), new Scoring.Sequence(tok.encode("Hi, you"), tok.encode("there!")));
    double[] ref = Scoring.responseLogitsNoGrad(m, seqs).toDoubleArray();
    for (int multiple : new int[] {1, 8, 13, 1000}) {
      double[] z = Scoring.responseLogitsNoGrad(m, seqs, multiple).toDoubleArray();
      assertThat(z).as("pad multiple " + multiple).containsExactly(ref, within(1e-12));
    }
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> Scoring.responseLogits(m, seqs, 0))
        .hasMessage("scoring: the pad multiple must be >= 1, got 0");
  }

  @Test
  void responseLogitsEqualThoseOfEachSequenceAlone() {
    CausalLm m = model(1, DType.FLOAT64);
    List<Scoring.Sequence> seqs = List.of(new Scoring.Sequence(tok.encode("What?"), tok.encode("42")),
        new Scoring.Sequence(tok.encode("Hi"), tok.encode("there!")));
    Tensor batched = Scoring.responseLogitsNoGrad(m, seqs);
    assertThat(batched.shape()).containsExactly(8, tok.vocabSize());
    int row = 0;
    for (Scoring.Sequence s : seqs) {
      int[] all = new int[s.context().length + s.response().length];
      System.arraycopy(s.context(), 0, all, 0, s.context().length);
      System.arraycopy(s.response(), 0, all, s.context().length, s.response().length);
      Tensor alone;
      try (Grad.Scope g = Grad.disabled()) {
        alone = m.forward(all, 1, all.length).value();
      }
      for (int k = 0; k < s.response().length; k++) {
        int p = s.context().length + k - 1;
        Tensor a = alone.slice(1, p, p + 1).copy().reshape(-1);
        Tensor b = batched.slice(0, row, row + 1).copy().reshape(-1);
        assertThat(a.maxAbsDiff(b)).isLessThan(1e-12);
        row++;
      }
    }
  }

  @Test
  void teacherEqualToStudentWithTheSameContextGivesZeroLossAndGradient() {
    CausalLm m = model(2, DType.FLOAT64);
    Teacher live = Teacher.create(Teacher.Kind.LIVE, m, 0);
    List<Scoring.Sequence> seqs = List.of(new Scoring.Sequence(tok.encode("Q: 1+1"), tok.encode("2")),
        new Scoring.Sequence(tok.encode("Q: 2+3"), tok.encode("five")));
    for (DistillConfig c : List.of(DistillConfig.full(1), DistillConfig.reverseKlTopK(5),
        DistillConfig.jensenShannonTopK(5))) {
      Variable s = Scoring.responseLogits(m, seqs);
      DistillationLoss.Result r = DistillationLoss.compute(s, live.responseLogits(seqs),
          targets(seqs), c);
      assertThat(Math.abs(r.loss().value().item())).isLessThan(1e-15); // 0 up to rounding
      m.zeroGrad();
      r.loss().backward();
      for (Variable p : m.namedParameters().values()) {
        assertThat(p.grad().maxAbsDiff(Tensor.zeros(DType.FLOAT64, p.shape()))).isLessThan(1e-15);
      }
    }
  }

  @Test
  void aStepWithInformativeFeedbackRaisesTheTeacherPreferredTokens() {
    CausalLm student = model(3, DType.FLOAT64);
    Teacher teacher = Teacher.create(Teacher.Kind.FROZEN, student, 0);
    int[] response = tok.encode("x + 1");
    List<Scoring.Sequence> studentSeqs = List.of(new Scoring.Sequence(tok.encode("f(x)?"), response));
    List<Scoring.Sequence> teacherSeqs = List.of(new Scoring.Sequence(
        tok.encode("f(x)?\nThe following is feedback: f(0) returned 0, expected 1"), response));
    Tensor lq = teacher.responseLogits(teacherSeqs).logSoftmax();
    Tensor lp0 = Scoring.responseLogitsNoGrad(student, studentSeqs).logSoftmax();
    // at each position, the token the teacher prefers most relative to the student
    int n = response.length;
    int[] preferred = new int[n];
    double[] gap = lq.sub(lp0).toDoubleArray();
    int V = tok.vocabSize();
    for (int t = 0; t < n; t++) {
      int best = 0;
      for (int j = 1; j < V; j++) {
        best = gap[t * V + j] > gap[t * V + best] ? j : best;
      }
      preferred[t] = best;
    }
    AdamW opt = new AdamW(student.namedParameters(), new AdamW.Settings(0.9, 0.999, 1e-8, 0));
    DistillationLoss.Result r = DistillationLoss.compute(Scoring.responseLogits(student, studentSeqs),
        teacher.responseLogits(teacherSeqs), targets(studentSeqs), DistillConfig.full(1));
    r.loss().backward();
    opt.step(1e-2);
    Tensor lp1 = Scoring.responseLogitsNoGrad(student, studentSeqs).logSoftmax();
    double before = lp0.pick(preferred).sum().item();
    double after = lp1.pick(preferred).sum().item();
    assertThat(after).isGreaterThan(before);
    // and the divergence to the (frozen) teacher went down
    double loss1 = DistillationLoss.compute(Scoring.responseLogits(student, studentSeqs),
        teacher.responseLogits(teacherSeqs), targets(studentSeqs), DistillConfig.full(1))
        .loss().value().item();
    assertThat(loss1).isLessThan(r.loss().value().item());
  }

  @Test
  void aFullStepRunsOnTheCodeEnvironmentAndMovesTheEmaTeacher() {
    CausalLm student = model(4, DType.FLOAT32);
    Teacher teacher = Teacher.create(Teacher.Kind.EMA, student, 0.05);
    double before = teacher.weights().namedParameters().get("wte.weight").value().get(5, 3);
    var env = Verifiers.byName("code").withFeedback(FeedbackLevel.FULL);
    List<Task> qs = env.tasks(Split.TRAIN, 2, 1, 1);
    SdpoStep.Setup setup = new SdpoStep.Setup(student, teacher, tok, env,
        Sampler.Settings.sample(1.0, 12, 7), 4, Reprompt.Config.richFeedback(240),
        DistillConfig.reverseKlTopK(8), SdpoStep.Algorithm.sdpo(), Grpo.Config.reference(),
        new AdamW(student.namedParameters(), AdamW.Settings.gpt()), 1e-3, 1.0, 1, 2);
    SdpoStep.Report rep = SdpoStep.run(setup, qs, new Rng(1));
    assertThat(rep.samples()).hasSize(8);
    assertThat(rep.metrics()).containsKeys("reward_mean", "feedback_used_fraction",
        "reprompt_sample_fraction", "empty_target_batch", "loss", "grad_norm");
    assertThat(rep.metrics().get("feedback_used_fraction")).isGreaterThan(0.0); // all fail: feedback
    assertThat(rep.metrics().get("loss")).isFinite().isGreaterThan(0.0);
    assertThat(rep.contexts().get(0).text()).contains("The following is feedback");
    assertThat(rep.metrics()).containsKeys("time_sampling_ms", "time_verification_ms",
        "time_teacher_ms", "time_update_ms", "entropy_mean", "is_weight_mean");
    double after = teacher.weights().namedParameters().get("wte.weight").value().get(5, 3);
    assertThat(after).isNotEqualTo(before);
  }

  @Test
  void everyAlgorithmAndOffPolicyMiniBatchesRunOnEveryEnvironment() {
    for (String envName : Verifiers.builtIn()) {
      for (SdpoStep.Algorithm algo : List.of(SdpoStep.Algorithm.sdpo(), SdpoStep.Algorithm.grpo(),
          new SdpoStep.Algorithm("blend_advantage", 0.9, 0, 5.0),
          new SdpoStep.Algorithm("blend_loss", 0, 0.5, null))) {
        CausalLm student = model(6, DType.FLOAT32);
        var env = Verifiers.byName(envName);
        SdpoStep.Setup setup = new SdpoStep.Setup(student,
            Teacher.create(Teacher.Kind.TRUST_REGION, student, 0.1), tok, env,
            Sampler.Settings.sample(1.0, 6, 3), 3, Reprompt.Config.siblingsOnly(240),
            DistillConfig.jensenShannonTopK(5), algo, Grpo.Config.reference(),
            new AdamW(student.namedParameters(), AdamW.Settings.gpt()), 1e-3, 1.0, 2, 2);
        SdpoStep.Report r = SdpoStep.run(setup, env.tasks(Split.TRAIN, 2, 3, 0), new Rng(2));
        assertThat(r.metrics().get("loss")).as(envName + " " + algo.name()).isFinite();
        assertThat(r.metrics().get("is_weight_max")).isGreaterThan(0.99);
      }
    }
  }

  /**
   * A Qwen3-shaped student (grouped-query attention, q/k norms, rotary positions) with prompts
   * through a chat template: every algorithm runs a step, the loss is finite and every parameter
   * of the SDPO step moved.
   */
  @Test
  void everyAlgorithmRunsOnAQwen3ShapedModelWithAChatTemplate() {
    var cfg = new org.sdpo.transformer.LlamaConfig("qwen3", tok.vocabSize(), 16, 24, 1, 4, 2, 6,
        256, 1e-6, org.sdpo.transformer.RopeConfig.plain(1e6), true, false, false);
    var chat = org.sdpo.transformer.tokenizer.ChatPrompts.of(tok,
        org.sdpo.transformer.tokenizer.ChatTemplate.of("{% for m in messages %}<|user|>"
            + "{{ m.content }}{% endfor %}<|assistant|>", java.util.Map.of()), java.util.Map.of());
    var env = Verifiers.byName("addition").withFeedback(FeedbackLevel.FULL);
    for (SdpoStep.Algorithm algo : List.of(SdpoStep.Algorithm.sdpo(), SdpoStep.Algorithm.grpo(),
        new SdpoStep.Algorithm("blend_advantage", 0.9, 0, 5.0))) {
      CausalLm student = org.sdpo.transformer.Llama.init(cfg, DType.FLOAT32, new Rng(4));
      java.util.Map<String, float[]> before = new java.util.HashMap<>();
      student.namedParameters().forEach((n, v) -> before.put(n, v.value().toFloatArray()));
      SdpoStep.Setup setup = new SdpoStep.Setup(student,
          Teacher.create(Teacher.Kind.EMA, student, 0.05), chat, env,
          Sampler.Settings.sample(1.0, 6, 3), 3, Reprompt.Config.richFeedback(200),
          DistillConfig.jensenShannonTopK(5), algo, Grpo.Config.reference(),
          new AdamW(student.namedParameters(), AdamW.Settings.gpt()), 1e-2, 1.0, 2, 1);
      SdpoStep.Report r = SdpoStep.run(setup, env.tasks(Split.TRAIN, 2, 3, 0), new Rng(2));
      assertThat(r.metrics().get("loss")).as(algo.name()).isFinite();
      if (algo.name().equals("sdpo")) {
        assertThat(r.metrics().get("reprompt_sample_fraction")).isEqualTo(1.0);
        student.namedParameters().forEach((n, v) -> assertThat(v.value().toFloatArray())
            .as(n).isNotEqualTo(before.get(n)));
      }
    }
  }

  @Test
  void grpoWithAKlToTheReferenceModel() {
    double[] losses = new double[2];
    for (int k = 0; k < 2; k++) {
      CausalLm student = model(7, DType.FLOAT32);
      student.copyWeightsFrom(model(8, DType.FLOAT32)); // differs from the reference
      var env = Verifiers.byName("arith");
      SdpoStep.Setup setup = new SdpoStep.Setup(student, Teacher.create(Teacher.Kind.FROZEN,
          student, 0), tok, env, Sampler.Settings.sample(1.0, 5, 3), 3,
          Reprompt.Config.siblingsOnly(240), DistillConfig.reverseKlTopK(5),
          SdpoStep.Algorithm.grpo(), new Grpo.Config(false, 0.2, 0.28, 2.0, k == 0 ? 0.0 : 0.5),
          new AdamW(student.namedParameters(), AdamW.Settings.gpt()), 1e-3, 1.0, 1, 1,
          model(7, DType.FLOAT32));
      losses[k] = SdpoStep.run(setup, env.tasks(Split.TRAIN, 2, 3, 0), new Rng(2)).metrics()
          .get("loss");
    }
    assertThat(losses[1]).isFinite().isGreaterThan(losses[0]); // k3 KL >= 0 adds to the loss
  }

  /**
   * The control of the rich-feedback claim: its loss is the cross-entropy of the reference answer
   * after the question, averaged per failed attempt and over all attempts; repeated steps raise
   * the answer's probability; a batch without failures with feedback takes no step.
   */
  @Test
  void sftOnTheRevealedAnswerIsTheLabelsCrossEntropy() {
    CausalLm student = model(9, DType.FLOAT32);
    var env = Verifiers.byName("addition").withFeedback(FeedbackLevel.FULL);
    List<Task> qs = env.tasks(Split.TRAIN, 2, 5, 1);
    SdpoStep.Setup setup = new SdpoStep.Setup(student, Teacher.create(Teacher.Kind.FROZEN, student,
        0), tok, env, Sampler.Settings.sample(1.0, 6, 3), 3, Reprompt.Config.richFeedback(200),
        DistillConfig.reverseKlTopK(5), new SdpoStep.Algorithm("sft_revealed", 0, 0, null),
        Grpo.Config.reference(), new AdamW(student.namedParameters(), AdamW.Settings.gpt()), 3e-3,
        1.0, 1, 1);
    List<Scoring.Sequence> targets = new ArrayList<>();
    for (Task q : qs) {
      int[] ref = tok.encode(q.reference());
      int[] t = java.util.Arrays.copyOf(ref, ref.length + 1);
      t[ref.length] = tok.eos();
      targets.add(new Scoring.Sequence(tok.encode(q.prompt()), t));
    }
    double before = answerLogprob(student, targets);
    // an untrained model fails every attempt: the loss is the mean over the 6 attempts of the
    // answer's mean negative log-likelihood, i.e. minus the answers' mean token log-prob
    SdpoStep.Report first = SdpoStep.run(setup, qs, new Rng(1));
    assertThat(first.metrics().get("success_fraction")).isZero();
    assertThat(first.metrics().get("sft_sample_fraction")).isEqualTo(1.0);
    assertThat(first.metrics().get("loss")).isCloseTo(-before, within(1e-4));
    for (int k = 0; k < 10; k++) {
      SdpoStep.run(setup, qs, new Rng(2 + k));
    }
    assertThat(answerLogprob(student, targets)).isGreaterThan(before + 1.0);
    // with feedback off nothing is revealed: no step
    SdpoStep.Setup silent = new SdpoStep.Setup(student, setup.teacher(), tok,
        env.withFeedback(FeedbackLevel.NONE), setup.sampling(), 3, setup.reprompt(), setup.loss(),
        setup.algorithm(), setup.grpo(), setup.optimizer(), 3e-3, 1.0, 1, 1);
    SdpoStep.Report none = SdpoStep.run(silent, qs, new Rng(20));
    assertThat(none.metrics().get("step_skipped")).isEqualTo(1.0);
    assertThat(none.metrics().get("sft_sample_fraction")).isZero();
  }

  /** The mean over sequences of each sequence's mean token log-probability. */
  private static double answerLogprob(CausalLm m, List<Scoring.Sequence> seqs) {
    Tensor lp = Scoring.responseLogitsNoGrad(m, seqs).logSoftmax();
    double total = 0;
    int row = 0;
    for (Scoring.Sequence s : seqs) {
      double seq = 0;
      for (int t : s.response()) {
        seq += lp.get(row++, t);
      }
      total += seq / s.response().length;
    }
    return total / seqs.size();
  }
}
