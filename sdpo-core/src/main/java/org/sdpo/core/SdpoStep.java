package org.sdpo.core;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.Rng;
import org.sdpo.tensor.Tensor;
import org.sdpo.transformer.Gpt;
import org.sdpo.transformer.sample.Sampler;
import org.sdpo.transformer.tokenizer.Tokenizer;
import org.sdpo.transformer.train.AdamW;
import org.sdpo.transformer.train.GradClip;
import org.sdpo.verifiers.Environment;
import org.sdpo.verifiers.Task;
import org.sdpo.verifiers.Verdict;
import org.sdpo.verifiers.Verifiers;

/**
 * One SDPO training step, the algorithm as a call sequence (reference doc §9):
 *
 * <ol>
 *   <li>sample G attempts per question with the student (KV-cache sampler);
 *   <li>grade them with the environment (in parallel), getting rewards and feedback;
 *   <li>build each attempt's teacher context (a sibling's success and/or its own feedback);
 *   <li>score the exact response tokens: the student after the question (with gradient), the
 *       teacher after its context (no gradient);
 *   <li>the distillation loss, backward, clipping, AdamW (skipped on a non-finite norm);
 *   <li>the teacher's EMA update.
 * </ol>
 */
public final class SdpoStep {
  private SdpoStep() {}

  /** Everything a step uses. */
  public record Setup(Gpt student, Teacher teacher, Tokenizer tokenizer, Environment env,
      Sampler.Settings sampling, int groupSize, Reprompt.Config reprompt, DistillConfig loss,
      AdamW optimizer, double lr, double gradClip, int threads) {}

  /** What happened: the rollouts and the step's metrics. */
  public record Report(List<Reprompt.Attempt> attempts, List<Reprompt.Context> contexts,
      List<Sampler.Sample> samples, DistillationLoss.Result loss, Map<String, Double> metrics) {}

  public static Report run(Setup s, List<Task> questions, Rng rng) {
    Tokenizer tok = s.tokenizer();
    // 1. rollouts: G attempts per question, one batch
    List<int[]> prompts = new ArrayList<>();
    List<Task> taskOf = new ArrayList<>();
    for (Task q : questions) {
      int[] p = tok.encode(q.prompt());
      for (int g = 0; g < s.groupSize(); g++) {
        prompts.add(p);
        taskOf.add(q);
      }
    }
    List<Sampler.Sample> samples = Sampler.generate(s.student(), tok, prompts, s.sampling());
    // 2. verification, in parallel
    List<String> texts = samples.stream().map(Sampler.Sample::text).toList();
    List<Verdict> verdicts = Verifiers.verifyAll(s.env(), taskOf, texts, s.threads());
    // 3. teacher contexts
    List<Reprompt.Attempt> attempts = new ArrayList<>();
    for (int i = 0; i < samples.size(); i++) {
      Verdict v = verdicts.get(i);
      attempts.add(new Reprompt.Attempt(i / s.groupSize(), taskOf.get(i).prompt(), texts.get(i),
          v.reward(), v.feedback()));
    }
    Reprompt.Result rp = Reprompt.build(attempts, s.reprompt(), rng, tok);
    // 4. score the exact response tokens under both contexts
    List<Scoring.Sequence> studentSeqs = new ArrayList<>();
    List<Scoring.Sequence> teacherSeqs = new ArrayList<>();
    List<Integer> tokens = new ArrayList<>();
    List<Integer> seqIds = new ArrayList<>();
    List<Double> mask = new ArrayList<>();
    for (int i = 0; i < samples.size(); i++) {
      int[] resp = samples.get(i).tokens();
      if (resp.length == 0) {
        continue;
      }
      studentSeqs.add(new Scoring.Sequence(prompts.get(i), resp));
      teacherSeqs.add(new Scoring.Sequence(tok.encode(rp.contexts().get(i).text()), resp));
      for (int t : resp) {
        tokens.add(t);
        seqIds.add(i);
        mask.add(rp.contexts().get(i).masked() ? 1.0 : 0.0);
      }
    }
    Map<String, Double> metrics = new LinkedHashMap<>(rp.metrics());
    double meanReward = verdicts.stream().mapToDouble(Verdict::reward).average().orElse(0);
    metrics.put("reward_mean", meanReward);
    metrics.put("response_length_mean",
        samples.stream().mapToInt(x -> x.tokens().length).average().orElse(0));
    if (tokens.isEmpty() || mask.stream().noneMatch(m -> m > 0)) {
      metrics.put("empty_target_batch", 1.0);
      s.teacher().update(false);
      return new Report(attempts, rp.contexts(), samples, null, metrics);
    }
    metrics.put("empty_target_batch", 0.0);
    Tensor teacherLogits = s.teacher().responseLogits(teacherSeqs);
    Variable studentLogits = Scoring.responseLogits(s.student(), studentSeqs);
    DistillationLoss.Targets targets = new DistillationLoss.Targets(
        tokens.stream().mapToInt(Integer::intValue).toArray(),
        seqIds.stream().mapToInt(Integer::intValue).toArray(), samples.size(),
        mask.stream().mapToDouble(Double::doubleValue).toArray(), null, null);
    DistillationLoss.Result loss = DistillationLoss.compute(studentLogits, teacherLogits, targets,
        s.loss());
    // 5. update
    s.student().zeroGrad();
    loss.loss().backward();
    double norm = GradClip.clip(s.student().namedParameters().values(), s.gradClip());
    boolean step = Double.isFinite(norm);
    if (step) {
      s.optimizer().step(s.lr());
    }
    s.student().zeroGrad();
    // 6. teacher
    s.teacher().update(step);
    metrics.put("loss", loss.loss().value().item());
    metrics.put("grad_norm", norm);
    metrics.put("step_skipped", step ? 0.0 : 1.0);
    return new Report(attempts, rp.contexts(), samples, loss, metrics);
  }
}
