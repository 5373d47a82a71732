package org.sdpo.core;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.sdpo.autograd.F;
import org.sdpo.autograd.Grad;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.Rng;
import org.sdpo.tensor.Tensor;
import org.sdpo.tensor.Workspace;
import org.sdpo.transformer.CausalLm;
import org.sdpo.transformer.sample.Sampler;
import org.sdpo.transformer.tokenizer.Tokenizer;
import org.sdpo.transformer.train.AdamW;
import org.sdpo.transformer.train.GradClip;
import org.sdpo.verifiers.Environment;
import org.sdpo.verifiers.Task;
import org.sdpo.verifiers.Verdict;
import org.sdpo.verifiers.Verifiers;

/**
 * One training step of SDPO (or its GRPO baseline and blends), the algorithm as a call sequence
 * (reference doc §9):
 *
 * <ol>
 *   <li>sample G attempts per question with the student (KV-cache sampler, sampling log-probs);
 *   <li>grade them with the environment, in parallel: rewards and feedback;
 *   <li>build each attempt's teacher context (a sibling's success and/or its own feedback);
 *   <li>score the exact response tokens under the teacher's context (no gradient, once);
 *   <li>for each mini-batch of questions: score them with the student (with gradient), the loss of
 *       the chosen algorithm, backward, clipping, AdamW (skipped on a non-finite norm); with more
 *       than one mini-batch, later ones are off-policy and use the importance ratio against the
 *       log-probs recorded before the first update. Where all response rows' logits would pass
 *       {@link Setup#logitsChunkBytes}, the student's and the teacher's hidden states are kept
 *       instead, and the head, the loss and their backward run a chunk of rows at a time, the
 *       hidden states' gradient gathered for one backward through the rest of the student;
 *   <li>the teacher's EMA update, once, if any optimizer step was taken.
 * </ol>
 */
public final class SdpoStep {
  private SdpoStep() {}

  /** sdpo, grpo, blend_advantage (paper Eq. 3) or blend_loss ((1 - w) PG + w SDPO). */
  public record Algorithm(String name, double lambda, double distillationWeight,
      Double advantageClip) {
    public static Algorithm sdpo() {
      return new Algorithm("sdpo", 0, 1, null);
    }

    public static Algorithm grpo() {
      return new Algorithm("grpo", 1, 0, null);
    }
  }

  /**
   * The default bound on the vocabulary-sized tensors of an update's chunk, 32 MiB of logits:
   * at GPT-2's 50,257 words, 166 response rows in float32.
   */
  public static final long DEFAULT_LOGITS_CHUNK_BYTES = 32L << 20;

  /**
   * Everything a step uses. {@code padMultiple}: teacher and student score their batches padded
   * to a multiple of it ({@link Scoring}). {@code logitsChunkBytes}: when the step's response
   * rows' logits (N, V) would take more than this, the update makes its logits, log-probabilities
   * and their gradients a chunk of rows at a time, each chunk's at most this size ({@link
   * #chunkRows}); at or below it, or at 0, all rows at once.
   */
  public record Setup(CausalLm student, Teacher teacher, Tokenizer tokenizer, Environment env,
      Sampler.Settings sampling, int groupSize, Reprompt.Config reprompt, DistillConfig loss,
      Algorithm algorithm, Grpo.Config grpo, AdamW optimizer, double lr, double gradClip,
      int miniBatches, int threads, CausalLm reference, int padMultiple, long logitsChunkBytes) {
    /** Chunks of {@link SdpoStep#DEFAULT_LOGITS_CHUNK_BYTES}. */
    public Setup(CausalLm student, Teacher teacher, Tokenizer tokenizer, Environment env,
        Sampler.Settings sampling, int groupSize, Reprompt.Config reprompt, DistillConfig loss,
        Algorithm algorithm, Grpo.Config grpo, AdamW optimizer, double lr, double gradClip,
        int miniBatches, int threads, CausalLm reference, int padMultiple) {
      this(student, teacher, tokenizer, env, sampling, groupSize, reprompt, loss, algorithm, grpo,
          optimizer, lr, gradClip, miniBatches, threads, reference, padMultiple,
          DEFAULT_LOGITS_CHUNK_BYTES);
    }

    /** Scoring padded to {@link Scoring#DEFAULT_PAD_MULTIPLE}. */
    public Setup(CausalLm student, Teacher teacher, Tokenizer tokenizer, Environment env,
        Sampler.Settings sampling, int groupSize, Reprompt.Config reprompt, DistillConfig loss,
        Algorithm algorithm, Grpo.Config grpo, AdamW optimizer, double lr, double gradClip,
        int miniBatches, int threads, CausalLm reference) {
      this(student, teacher, tokenizer, env, sampling, groupSize, reprompt, loss, algorithm, grpo,
          optimizer, lr, gradClip, miniBatches, threads, reference, Scoring.DEFAULT_PAD_MULTIPLE);
    }

    /** Without a reference model (no KL-to-reference term). */
    public Setup(CausalLm student, Teacher teacher, Tokenizer tokenizer, Environment env,
        Sampler.Settings sampling, int groupSize, Reprompt.Config reprompt, DistillConfig loss,
        Algorithm algorithm, Grpo.Config grpo, AdamW optimizer, double lr, double gradClip,
        int miniBatches, int threads) {
      this(student, teacher, tokenizer, env, sampling, groupSize, reprompt, loss, algorithm, grpo,
          optimizer, lr, gradClip, miniBatches, threads, null);
    }

    /** This setup with scoring padded to a multiple of {@code multiple}. */
    public Setup withPadMultiple(int multiple) {
      return new Setup(student, teacher, tokenizer, env, sampling, groupSize, reprompt, loss,
          algorithm, grpo, optimizer, lr, gradClip, miniBatches, threads, reference, multiple,
          logitsChunkBytes);
    }

    /** This setup with the update's chunks bounded by {@code bytes} of logits (0: no chunks). */
    public Setup withLogitsChunkBytes(long bytes) {
      if (bytes < 0) {
        throw new IllegalArgumentException("logits chunk: bytes must be >= 0, got " + bytes);
      }
      return new Setup(student, teacher, tokenizer, env, sampling, groupSize, reprompt, loss,
          algorithm, grpo, optimizer, lr, gradClip, miniBatches, threads, reference, padMultiple,
          bytes);
    }

    /**
     * Response rows per chunk of the update: as many rows of logits as fit in {@code
     * logitsChunkBytes} (at least one), or all of them ({@code Integer.MAX_VALUE}) at 0.
     */
    public int chunkRows() {
      return Scoring.chunkRows(student, logitsChunkBytes);
    }
  }

  /**
   * What happened: the rollouts, the teacher contexts, per-token values and the metrics. {@code
   * studentLogprobs} and {@code teacherLogprobs} are (R, V) for the first R response rows (in
   * sample order): all of them, or an update in chunks' first chunk; null where there is none.
   */
  public record Report(List<Task> tasks, List<Reprompt.Attempt> attempts,
      List<Reprompt.Context> contexts, List<Sampler.Sample> samples, List<Verdict> verdicts,
      Tensor studentLogprobs, Tensor teacherLogprobs, Map<String, Double> metrics) {}

  public static Report run(Setup s, List<Task> questions, Rng rng) {
    Tokenizer tok = s.tokenizer();
    int G = s.groupSize();
    long t0 = System.nanoTime();
    // 1. rollouts: G attempts per question, one batch
    List<int[]> prompts = new ArrayList<>();
    List<Task> taskOf = new ArrayList<>();
    for (Task q : questions) {
      int[] p = tok.encodePrompt(q.prompt());
      for (int g = 0; g < G; g++) {
        prompts.add(p);
        taskOf.add(q);
      }
    }
    List<Sampler.Sample> samples = Sampler.generate(s.student(), tok, prompts, s.sampling());
    long t1 = System.nanoTime();
    // 2. verification, in parallel
    List<String> texts = samples.stream().map(Sampler.Sample::text).toList();
    List<Verdict> verdicts = Verifiers.verifyAll(s.env(), taskOf, texts, s.threads());
    long t2 = System.nanoTime();
    // 3. teacher contexts
    List<Reprompt.Attempt> attempts = new ArrayList<>();
    double[] rewards = new double[samples.size()];
    int[] groups = new int[samples.size()];
    for (int i = 0; i < samples.size(); i++) {
      Verdict v = verdicts.get(i);
      rewards[i] = v.reward();
      groups[i] = i / G;
      attempts.add(new Reprompt.Attempt(i / G, taskOf.get(i).prompt(), texts.get(i), v.reward(),
          v.feedback()));
    }
    Reprompt.Result rp = Reprompt.build(attempts, s.reprompt(), rng, tok);
    double[] advantages = Grpo.advantages(rewards, groups, s.grpo().normalizeStd());

    Map<String, Double> m = new LinkedHashMap<>(rp.metrics());
    m.put("reward_mean", java.util.Arrays.stream(rewards).average().orElse(0));
    m.put("success_fraction", verdicts.stream().filter(Verdict::success).count()
        / (double) Math.max(1, verdicts.size()));
    m.put("response_length_mean",
        samples.stream().mapToInt(x -> x.tokens().length).average().orElse(0));
    m.put("time_sampling_ms", (t1 - t0) / 1e6);
    m.put("time_verification_ms", (t2 - t1) / 1e6);
    if (s.algorithm().name().equals("sft_revealed")) {
      m.putAll(sftRevealed(s, taskOf, verdicts, prompts));
      m.put("time_update_ms", (System.nanoTime() - t2) / 1e6);
      return new Report(questions, attempts, rp.contexts(), samples, verdicts, null, null, m);
    }

    // 4. the teacher scores every response once, under its context
    List<Integer> scored = new ArrayList<>(); // samples with at least one response token
    List<Scoring.Sequence> teacherSeqs = new ArrayList<>();
    for (int i = 0; i < samples.size(); i++) {
      if (samples.get(i).tokens().length > 0) {
        scored.add(i);
        teacherSeqs.add(new Scoring.Sequence(tok.encodePrompt(rp.contexts().get(i).text()),
            samples.get(i).tokens()));
      }
    }
    boolean anyTarget = scored.stream().anyMatch(i -> rp.contexts().get(i).masked());
    boolean needsTeacher = !s.algorithm().name().equals("grpo");
    m.put("empty_target_batch", anyTarget || !needsTeacher ? 0.0 : 1.0);
    if (scored.isEmpty()) {
      s.teacher().update(false);
      return new Report(questions, attempts, rp.contexts(), samples, verdicts, null, null, m);
    }
    // an update in chunks when all rows' logits would pass the bound (then every phase below
    // makes its (n, V) tensors a chunk of rows at a time, from hidden states)
    int chunkRows = s.chunkRows();
    int rowsAll = scored.stream().mapToInt(i -> samples.get(i).tokens().length).sum();
    boolean chunked = rowsAll > chunkRows;
    m.put("update_chunks", chunked ? Math.ceil(rowsAll / (double) chunkRows) : 1.0);
    long t3 = System.nanoTime();
    Tensor teacherAll = null; // (N, V), all at once
    Teacher.Rows teacherRows = null; // or the rows' hidden states, for chunks
    if (needsTeacher && chunked) {
      teacherRows = s.teacher().responseRows(teacherSeqs, s.padMultiple(), s.miniBatches() > 1);
    } else if (needsTeacher) {
      teacherAll = s.teacher().responseLogits(teacherSeqs, s.padMultiple());
    }
    long t4 = System.nanoTime();
    m.put("time_teacher_ms", (t4 - t3) / 1e6);
    double invT = 1 / s.loss().temperature();

    // old log-probs of the sampled tokens, before any update (needed only off-policy)
    double[] old = null;
    if (s.miniBatches() > 1) {
      List<Scoring.Sequence> all = new ArrayList<>();
      for (int i : scored) {
        all.add(new Scoring.Sequence(prompts.get(i), samples.get(i).tokens()));
      }
      old = Scoring.responseLogprobs(s.student(), all, s.padMultiple(), invT,
          chunked ? chunkRows : Integer.MAX_VALUE);
    }

    // 5. mini-batches of questions
    int qPerMb = questions.size() / s.miniBatches();
    boolean stepTaken = false;
    double lossSum = 0;
    double normLast = 0;
    Kept kept = new Kept();
    kept.teacher = teacherAll == null ? null
        : DistillationLoss.scaled(teacherAll, invT).logSoftmax();
    Stats stats = new Stats();
    for (int mb = 0; mb < s.miniBatches(); mb++) {
      List<Integer> idx = new ArrayList<>();
      List<Integer> rows = new ArrayList<>();
      int row = 0;
      for (int k = 0; k < scored.size(); k++) {
        int i = scored.get(k);
        int len = samples.get(i).tokens().length;
        if (groups[i] / qPerMb == mb) {
          idx.add(i);
          for (int t = 0; t < len; t++) {
            rows.add(row + t);
          }
        }
        row += len;
      }
      if (idx.isEmpty()) {
        continue;
      }
      List<Scoring.Sequence> studentSeqs = new ArrayList<>();
      for (int i : idx) {
        studentSeqs.add(new Scoring.Sequence(prompts.get(i), samples.get(i).tokens()));
      }
      int[] rowIds = rows.stream().mapToInt(Integer::intValue).toArray();
      MiniBatch b = miniBatch(idx, samples, rp.contexts(), advantages, old, rowIds,
          s.loss().aggregation());
      try (Workspace.Scope ws = Scoring.workspace().enter()) {
        double loss = chunked
            ? updateInChunks(s, studentSeqs, b, rowIds, teacherRows, chunkRows, stats, kept)
            : updateAllRows(s, studentSeqs, b, rowIds, teacherAll, stats, kept);
        double norm = GradClip.clip(s.student().namedParameters().values(), s.gradClip());
        normLast = norm;
        if (Double.isFinite(norm)) {
          s.optimizer().step(s.lr());
          stepTaken = true;
        }
        s.student().zeroGrad();
        lossSum += loss;
      }
    }
    long t5 = System.nanoTime();
    // 6. the teacher moves once per training step
    s.teacher().update(stepTaken);
    m.put("loss", lossSum / s.miniBatches());
    m.put("grad_norm", normLast);
    m.put("step_skipped", stepTaken ? 0.0 : 1.0);
    m.put("entropy_mean", stats.entropy / Math.max(1, stats.tokens));
    m.put("is_weight_mean", stats.isMean / Math.max(1, stats.tokens));
    m.put("is_weight_max", stats.isMax);
    m.put("time_update_ms", (t5 - t4) / 1e6);
    return new Report(questions, attempts, rp.contexts(), samples, verdicts, kept.student,
        kept.teacher, m);
  }

  /**
   * One mini-batch's loss and backward with all its rows' logits at once: z (n, V) from the
   * student's forward, the teacher's rows of its (N, V) logits. Returns the loss.
   */
  private static double updateAllRows(Setup s, List<Scoring.Sequence> studentSeqs, MiniBatch b,
      int[] rowIds, Tensor teacherAll, Stats stats, Kept kept) {
    Variable z = Scoring.responseLogits(s.student(), studentSeqs, s.padMultiple()); // (n, V)
    Tensor zq = teacherAll == null ? null : teacherAll.gatherRows(rowIds, rowIds.length);
    double[] ref = referenceLogprobs(s, studentSeqs, Integer.MAX_VALUE);
    Variable l = loss(s, z, zq, b, ref);
    s.student().zeroGrad();
    l.backward();
    Tensor lp = stats.add(z.value(), 1 / s.loss().temperature(), b).detach();
    kept.student = kept.student == null ? lp : Tensor.concat(0, kept.student, lp).detach();
    return l.value().item();
  }

  /**
   * The same in chunks of {@code chunkRows} rows ({@link HeadInChunks}): the student's hidden
   * states (n, C) once, then per chunk its head's logits, the teacher's from its hidden states,
   * the loss and its backward, and the statistics. No tensor of (n, V) is made. Returns the loss.
   */
  private static double updateInChunks(Setup s, List<Scoring.Sequence> studentSeqs,
      MiniBatch b, int[] rowIds, Teacher.Rows teacherRows, int chunkRows, Stats stats,
      Kept kept) {
    double invT = 1 / s.loss().temperature();
    double[] ref = referenceLogprobs(s, studentSeqs, chunkRows);
    Variable h = Scoring.responseHidden(s.student(), studentSeqs, s.padMultiple()); // (n, C)
    s.student().zeroGrad();
    return HeadInChunks.backward(s.student(), h, chunkRows, (z, a, e) -> {
      Tensor zq = teacherRows == null ? null
          : teacherRows.logits(Arrays.copyOfRange(rowIds, a, e)); // (e - a, V)
      MiniBatch bc = b.rows(a, e);
      double loss;
      // the loss and its backward in a scope of their own, whose buffers the statistics then
      // take again: a chunk holds the larger of the two sets, not both
      try (Workspace.Scope ls = Workspace.nested()) {
        Variable l = loss(s, z, zq, bc, ref == null ? null : Arrays.copyOfRange(ref, a, e));
        l.backward();
        loss = l.value().item();
      }
      try (Workspace.Scope ss = Workspace.nested()) {
        Tensor lp = stats.add(z.value(), invT, bc);
        if (kept.student == null) { // the viewer's rows: the first chunk's
          kept.student = lp.detach();
          kept.teacher = zq == null ? null
              : DistillationLoss.scaled(zq, invT).logSoftmax().detach();
        }
      }
      return loss;
    });
  }

  /** The report's rows of log-probabilities (R, V), the student's and the teacher's. */
  private static final class Kept {
    Tensor student;
    Tensor teacher;
  }

  /**
   * The control of the rich-feedback claim ({@code sft_revealed}): supervised fine-tuning on what
   * the feedback reveals. For every failed attempt whose feedback is not empty, the cross-entropy
   * of the task's reference solution (and the end of text) after the question; aggregated like
   * SDPO (the mean over all attempts of each one's token mean, so that the step sizes compare),
   * one optimizer step. With full feedback that states the answer (addition) this is SDPO's
   * teacher replaced by the label itself; the teacher is not used.
   */
  static Map<String, Double> sftRevealed(Setup s, List<Task> taskOf, List<Verdict> verdicts,
      List<int[]> prompts) {
    Tokenizer tok = s.tokenizer();
    List<Scoring.Sequence> seqs = new ArrayList<>();
    List<Integer> tokens = new ArrayList<>();
    List<Integer> seqOf = new ArrayList<>();
    for (int i = 0; i < verdicts.size(); i++) {
      Verdict v = verdicts.get(i);
      if (v.success() || v.feedback().isEmpty()) {
        continue;
      }
      int[] ref = tok.encode(taskOf.get(i).reference());
      int[] target = java.util.Arrays.copyOf(ref, ref.length + 1);
      target[ref.length] = tok.eos();
      for (int t : target) {
        tokens.add(t);
        seqOf.add(seqs.size());
      }
      seqs.add(new Scoring.Sequence(prompts.get(i), target));
    }
    Map<String, Double> m = new LinkedHashMap<>();
    m.put("sft_sample_fraction", seqs.size() / (double) Math.max(1, verdicts.size()));
    if (seqs.isEmpty()) {
      s.teacher().update(false);
      m.put("loss", 0.0);
      m.put("grad_norm", 0.0);
      m.put("step_skipped", 1.0);
      return m;
    }
    int[] tok1 = tokens.stream().mapToInt(Integer::intValue).toArray();
    double[] mask = new double[tok1.length];
    java.util.Arrays.fill(mask, 1);
    double loss;
    double norm;
    // the mean over all attempts (successes count in the denominator, as in SDPO's aggregation)
    double[] agg = DistillationLoss.aggregationWeights(new DistillationLoss.Targets(tok1,
        seqOf.stream().mapToInt(Integer::intValue).toArray(), verdicts.size(), mask, null, null),
        DistillConfig.Aggregation.SEQ_MEAN_TOKEN_MEAN);
    int chunkRows = s.chunkRows();
    m.put("update_chunks", tok1.length <= chunkRows ? 1.0
        : Math.ceil(tok1.length / (double) chunkRows));
    try (Workspace.Scope ws = Scoring.workspace().enter()) {
      if (tok1.length <= chunkRows) {
        Variable z = Scoring.responseLogits(s.student(), seqs, s.padMultiple()); // (n, V)
        Variable l = revealedLoss(z, tok1, agg);
        s.student().zeroGrad();
        l.backward();
        loss = l.value().item();
      } else { // in chunks of rows, as SDPO's update
        Variable h = Scoring.responseHidden(s.student(), seqs, s.padMultiple()); // (n, C)
        s.student().zeroGrad();
        loss = HeadInChunks.backward(s.student(), h, chunkRows, (z, a, e) -> {
          Variable l = revealedLoss(z, Arrays.copyOfRange(tok1, a, e),
              Arrays.copyOfRange(agg, a, e));
          l.backward();
          return l.value().item();
        });
      }
      norm = GradClip.clip(s.student().namedParameters().values(), s.gradClip());
      if (Double.isFinite(norm)) {
        s.optimizer().step(s.lr());
      }
      s.student().zeroGrad();
    }
    s.teacher().update(Double.isFinite(norm));
    m.put("loss", loss);
    m.put("grad_norm", norm);
    m.put("step_skipped", Double.isFinite(norm) ? 0.0 : 1.0);
    return m;
  }

  /** sum_t agg_t * -log p(target_t) over rows of logits z (n, V). */
  private static Variable revealedLoss(Variable z, int[] targets, double[] agg) {
    Variable nll = F.neg(F.pick(F.logSoftmax(z), targets)); // (n,) -log p(target token)
    return F.sum(F.mul(nll, Variable.constant(Tensor.of(z.dtype(), agg, agg.length))));
  }

  /**
   * One mini-batch's per-token inputs, and the constants each token's loss is multiplied by
   * before the sum ({@link DistillationLoss#aggregationWeights}): over the SDPO mask with the
   * configured aggregation ({@code aggSdpo}), over all tokens as a token mean (GRPO's, {@code
   * aggTokenMean}) and with the configured aggregation ({@code aggAll}, the advantage blend's).
   * The normalisers are the whole mini-batch's, so a chunk of rows ({@link #rows}) keeps them.
   */
  record MiniBatch(int[] tokens, int[] sequence, int sequences, double[] sdpoMask, double[] allMask,
      double[] advantage, double[] old, double[] rollout, double[] aggSdpo, double[] aggTokenMean,
      double[] aggAll) {
    /** Rows [a, e) of this mini-batch, with its normalisers. */
    MiniBatch rows(int a, int e) {
      return new MiniBatch(Arrays.copyOfRange(tokens, a, e), Arrays.copyOfRange(sequence, a, e),
          sequences, Arrays.copyOfRange(sdpoMask, a, e), Arrays.copyOfRange(allMask, a, e),
          Arrays.copyOfRange(advantage, a, e), old == null ? null : Arrays.copyOfRange(old, a, e),
          Arrays.copyOfRange(rollout, a, e), Arrays.copyOfRange(aggSdpo, a, e),
          Arrays.copyOfRange(aggTokenMean, a, e), Arrays.copyOfRange(aggAll, a, e));
    }
  }

  private static MiniBatch miniBatch(List<Integer> idx, List<Sampler.Sample> samples,
      List<Reprompt.Context> contexts, double[] advantages, double[] oldAll, int[] rowIds,
      DistillConfig.Aggregation aggregation) {
    List<Integer> tok = new ArrayList<>();
    List<Integer> seq = new ArrayList<>();
    List<Double> mask = new ArrayList<>();
    List<Double> adv = new ArrayList<>();
    List<Double> roll = new ArrayList<>();
    for (int k = 0; k < idx.size(); k++) {
      int i = idx.get(k);
      Sampler.Sample x = samples.get(i);
      for (int t = 0; t < x.tokens().length; t++) {
        tok.add(x.tokens()[t]);
        seq.add(k);
        mask.add(contexts.get(i).masked() ? 1.0 : 0.0);
        adv.add(advantages[i]);
        roll.add(x.logprobs()[t]);
      }
    }
    int n = tok.size();
    double[] ones = new double[n];
    Arrays.fill(ones, 1);
    double[] old = null;
    if (oldAll != null) {
      old = new double[n];
      for (int t = 0; t < n; t++) {
        old[t] = oldAll[rowIds[t]];
      }
    }
    int[] tokens = tok.stream().mapToInt(Integer::intValue).toArray();
    int[] sequence = seq.stream().mapToInt(Integer::intValue).toArray();
    double[] sdpoMask = mask.stream().mapToDouble(Double::doubleValue).toArray();
    DistillationLoss.Targets sdpo = new DistillationLoss.Targets(tokens, sequence, idx.size(),
        sdpoMask, null, null);
    DistillationLoss.Targets all = new DistillationLoss.Targets(tokens, sequence, idx.size(), ones,
        null, null);
    return new MiniBatch(tokens, sequence, idx.size(), sdpoMask, ones,
        adv.stream().mapToDouble(Double::doubleValue).toArray(), old,
        roll.stream().mapToDouble(Double::doubleValue).toArray(),
        DistillationLoss.aggregationWeights(sdpo, aggregation),
        DistillationLoss.aggregationWeights(all, DistillConfig.Aggregation.TOKEN_MEAN),
        DistillationLoss.aggregationWeights(all, aggregation));
  }

  /** The reference model's log p_ref of the sampled tokens, or null without a KL term. */
  private static double[] referenceLogprobs(Setup s, List<Scoring.Sequence> seqs,
      int chunkRows) {
    if (s.reference() == null || s.grpo().klCoef() <= 0) {
      return null;
    }
    return Scoring.responseLogprobs(s.reference(), seqs, s.padMultiple(), 1 / s.loss().temperature(),
        chunkRows);
  }

  /** The update's statistics, summed over mini-batches and chunks. */
  private static final class Stats {
    double entropy;
    double isMean;
    double isMax;
    int tokens;

    /** Adds rows of student logits z (n, V); returns their log-probabilities at 1 / invT. */
    Tensor add(Tensor z, double invT, MiniBatch b) {
      Tensor lp = DistillationLoss.scaled(z, invT).logSoftmax();
      entropy += lp.exp().mul(lp).sum().item() * -1;
      tokens += b.tokens().length;
      if (b.old() != null) {
        double[] lpTok = lp.pick(b.tokens()).toDoubleArray();
        for (int t = 0; t < lpTok.length; t++) {
          double w = Math.exp(Math.max(-20, Math.min(20, lpTok[t] - b.old()[t])));
          isMean += w;
          isMax = Math.max(isMax, w);
        }
      } else {
        isMean += b.tokens().length;
        isMax = Math.max(isMax, 1);
      }
      return lp;
    }
  }

  /** The chosen algorithm's scalar loss for a mini-batch (or rows of one). */
  static Variable loss(Setup s, Variable z, Tensor zq, MiniBatch b, double[] refLogprobs) {
    DistillConfig c = s.loss();
    String algo = s.algorithm().name();
    Variable sdpo = null;
    Variable pg = null;
    if (!algo.equals("grpo") && !algo.equals("blend_advantage")) {
      DistillationLoss.Targets t = new DistillationLoss.Targets(b.tokens(), b.sequence(),
          b.sequences(), b.sdpoMask(), b.old(), b.old() == null ? null : b.rollout());
      sdpo = DistillationLoss.compute(z, zq, t, c, b.aggSdpo()).loss();
    }
    if (algo.equals("sdpo")) {
      return sdpo;
    }
    Variable lp = F.logSoftmax(F.scale(z, 1 / c.temperature())); // (n, V)
    if (algo.equals("grpo") || algo.equals("blend_loss")) {
      Variable tokenLoss = Grpo.tokenLoss(F.pick(lp, b.tokens()), b.old(), b.rollout(),
          refLogprobs, b.advantage(), s.grpo());
      Tensor agg = Tensor.of(z.dtype(), b.aggTokenMean(), b.aggTokenMean().length);
      pg = F.sum(F.mul(tokenLoss, Variable.constant(agg)));
    }
    switch (algo) {
      case "grpo":
        return pg;
      case "blend_loss": {
        double w = s.algorithm().distillationWeight();
        return F.add(F.scale(pg, 1 - w), F.scale(sdpo, w));
      }
      default: { // blend_advantage: GRPO advantage on the sampled logit + SDPO logit advantages
        Tensor lq = DistillationLoss.scaled(zq, 1 / c.temperature()).logSoftmax();
        // samples without a teacher signal get no SDPO advantage: their teacher row = the student's
        Tensor keep = Tensor.of(z.dtype(), b.sdpoMask(), b.sdpoMask().length, 1);
        Tensor lqMasked = Tensor.where(keep, lq, lp.value());
        Variable tokenLoss = Grpo.blendTokenLoss(lp, lqMasked, b.tokens(), b.advantage(),
            s.algorithm().lambda(), s.algorithm().advantageClip());
        Tensor aggS = Tensor.of(z.dtype(), b.aggAll(), b.aggAll().length);
        return F.sum(F.mul(tokenLoss, Variable.constant(aggS)));
      }
    }
  }
}
