package org.sdpo.core;

import org.sdpo.autograd.F;
import org.sdpo.autograd.Grad;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.DType;
import org.sdpo.tensor.Indices;
import org.sdpo.tensor.Tensor;

/**
 * SDPO's distillation objective: per response position, a divergence between the student's
 * next-token distribution p (on the original prompt) and the self-teacher's q (on the
 * feedback-augmented prompt, under stop-gradient), weighted by detached importance ratios, masked
 * and aggregated.
 *
 * <p>Written with autograd primitives, so its gradient is the autograd's (and the tests check it
 * against the analytic logit gradients of the reference doc, §1.4). Shapes: N response positions
 * of all sequences, flattened; V vocabulary; K top-K; B buckets.
 */
public final class DistillationLoss {
  private DistillationLoss() {}

  /** Everything besides the logits that the loss needs, per response position (length N). */
  public record Targets(int[] tokens, int[] sequence, int sequences, double[] mask,
      double[] oldLogprobs, double[] rolloutLogprobs) {
    public Targets {
      int n = tokens.length;
      if (sequence.length != n || mask.length != n || (oldLogprobs != null && oldLogprobs.length != n)
          || (rolloutLogprobs != null && rolloutLogprobs.length != n)) {
        throw new IllegalArgumentException("distillation targets: tokens, sequence ids, mask and "
            + "log-probs must all have one entry per response position (" + n + ")");
      }
      for (int s : sequence) {
        if (s < 0 || s >= sequences) {
          throw new IllegalArgumentException("distillation targets: sequence id " + s
              + " outside [0, " + sequences + ")");
        }
      }
    }
  }

  /** The scalar loss, and per-token values for logs and the credit-assignment viewer. */
  public record Result(Variable loss, Tensor tokenLoss, Tensor weights, Tensor studentLogprobs,
      Tensor teacherLogprobs) {}

  /**
   * @param student student logits at the response positions, (N, V), with gradient
   * @param teacher teacher logits at the same positions, (N, V), no gradient
   */
  public static Result compute(Variable student, Tensor teacher, Targets t, DistillConfig c) {
    return compute(student, teacher, t, c, aggregationWeights(t, c.aggregation()));
  }

  /**
   * The same with each position's aggregation constant given ({@code agg}, N): for rows of a
   * larger batch, whose normalisers are the whole batch's.
   */
  public static Result compute(Variable student, Tensor teacher, Targets t, DistillConfig c,
      double[] agg) {
    int N = student.dim(0);
    int V = student.dim(1);
    if (teacher.rank() != 2 || teacher.dim(0) != N || teacher.dim(1) != V) {
      throw new IllegalArgumentException("distillation: teacher logits " + java.util.Arrays.toString(
          teacher.shape()) + " do not match the student's [" + N + ", " + V + "]");
    }
    if (t.tokens().length != N) {
      throw new IllegalArgumentException("distillation: " + t.tokens().length + " targets for "
          + N + " response positions");
    }
    DType dt = student.dtype();
    double invT = 1.0 / c.temperature();
    Variable lp = F.logSoftmax(F.scale(student, invT)); // (N, V), log p
    Tensor lq; // (N, V), log q, constant
    try (Grad.Scope g = Grad.disabled()) {
      lq = scaled(teacher.to(dt), invT).logSoftmax();
    }
    Variable lpToken = F.pick(lp, t.tokens()); // (N), log p(y_t)
    Tensor lqToken = lq.pick(t.tokens());

    Variable perToken; // (N)
    if (c.mode() == DistillConfig.Mode.SAMPLED_TOKEN) {
      // sg(log p(y) - log q(y)) * log p(y): its gradient is the reverse-KL REINFORCE estimate
      Tensor adv = lpToken.value().sub(lqToken);
      perToken = F.mul(Variable.constant(adv), lpToken);
    } else if (c.topK() == null) {
      perToken = divergence(lp, Variable.constant(lq), c.alpha());
    } else {
      int K = Math.min(c.topK(), V);
      Indices ids = lp.value().topK(K); // (N*K) the student's top-K, constants, on the backend
      Variable lpK = F.pick(lp, ids, K); // (N, K), true log-probs
      Tensor lqK = lq.pick(ids, K); // teacher at the student's ids
      Variable lpB;
      Variable lqB;
      if (c.addTail()) {
        lpB = F.concat(1, lpK, tail(lpK));
        lqB = F.concat(1, Variable.constant(lqK), tail(Variable.constant(lqK)));
      } else {
        lpB = F.logSoftmax(lpK);
        lqB = Variable.constant(lqK.logSoftmax());
      }
      perToken = divergence(lpB, lqB, c.alpha());
    }

    Tensor w = weights(lpToken.value(), t, c); // (N), detached
    if (agg.length != N) {
      throw new IllegalArgumentException("distillation: " + agg.length
          + " aggregation weights for " + N + " response positions");
    }
    Tensor aggT = Tensor.of(dt, agg, N); // (N), mask / normaliser
    Variable weighted = F.mul(perToken, Variable.constant(w));
    Variable loss = F.sum(F.mul(weighted, Variable.constant(aggT)));
    return new Result(loss, weighted.value(), w, lp.value(), lq);
  }

  /**
   * Sum over the last axis of the divergence between log-distributions lp (student) and lq
   * (teacher): alpha 0 forward KL, 1 reverse KL, otherwise (1-alpha) KL(p||m) + alpha KL(q||m)
   * with log m = logsumexp(lp + log(1-alpha), lq + log(alpha)).
   */
  static Variable divergence(Variable lp, Variable lq, double alpha) {
    if (alpha == 0.0) {
      return F.sum(F.mul(F.exp(lq), F.sub(lq, lp)), false, -1); // sum q (log q - log p)
    }
    if (alpha == 1.0) {
      return F.sum(F.mul(F.exp(lp), F.sub(lp, lq)), false, -1); // sum p (log p - log q)
    }
    Variable a = F.shift(lp, Math.log(1 - alpha));
    Variable b = F.shift(lq, Math.log(alpha));
    // logsumexp(a, b) with the elementwise maximum as a constant shift (exact for any shift)
    Tensor m = a.value().maximum(b.value());
    Variable mv = Variable.constant(m);
    Variable lm = F.add(mv, F.log(F.add(F.exp(F.sub(a, mv)), F.exp(F.sub(b, mv)))));
    Variable klP = F.sum(F.mul(F.exp(lp), F.sub(lp, lm)), false, -1);
    Variable klQ = F.sum(F.mul(F.exp(lq), F.sub(lq, lm)), false, -1);
    return F.add(F.scale(klP, 1 - alpha), F.scale(klQ, alpha));
  }

  /**
   * The tail bucket of each row of top-K log-probs (N, K): log(1 - sum_k p_k), with the log-mass
   * clamped to at most -1e-7 so the tail stays finite when the top-K hold all the mass.
   */
  static Variable tail(Variable lpK) {
    Tensor max = lpK.value().max(true, -1); // constant shift for logsumexp
    Variable lse = F.add(F.log(F.sum(F.exp(F.sub(lpK, Variable.constant(max))), true, -1)),
        Variable.constant(max)); // (N, 1)
    Tensor over = lse.value().greater(Tensor.scalar(lse.dtype(), -1e-7));
    Variable clamped = F.where(over, Variable.scalar(lse.dtype(), -1e-7), lse);
    return F.log1mexp(clamped); // (N, 1)
  }

  /**
   * Detached per-token weights: min(exp(clamp(log p - log p_old, -20, 20)), is_clip) (identity when
   * no old log-probs are given: exactly on-policy) times min(exp(clamp(log p_old - log p_rollout,
   * -20, 20)), rollout_is_clip).
   */
  static Tensor weights(Tensor lpToken, Targets t, DistillConfig c) {
    int n = t.tokens().length;
    double[] w = new double[n];
    if (t.oldLogprobs() == null) { // on-policy: all 1, and nothing to read back
      java.util.Arrays.fill(w, 1);
      return Tensor.of(lpToken.dtype(), w, n);
    }
    double[] lp = lpToken.toDoubleArray();
    for (int i = 0; i < n; i++) {
      double wi = 1;
      if (c.isClip() != null && t.oldLogprobs() != null) {
        wi *= Math.min(Math.exp(clamp(lp[i] - t.oldLogprobs()[i])), c.isClip());
      }
      if (c.rolloutIsClip() != null && t.oldLogprobs() != null && t.rolloutLogprobs() != null) {
        wi *= Math.min(Math.exp(clamp(t.oldLogprobs()[i] - t.rolloutLogprobs()[i])),
            c.rolloutIsClip());
      }
      w[i] = wi;
    }
    return Tensor.of(lpToken.dtype(), w, n);
  }

  /** s z: logits at temperature 1 / s; z itself at s = 1 (exactly the same numbers, no copy). */
  static Tensor scaled(Tensor z, double s) {
    return s == 1.0 ? z : z.mul(s);
  }

  private static double clamp(double x) {
    return Math.max(-20, Math.min(20, x));
  }

  /** The constant each token's loss is multiplied by before summing (mask / normaliser). */
  static double[] aggregationWeights(Targets t, DistillConfig.Aggregation a) {
    int n = t.tokens().length;
    double[] out = new double[n];
    if (a == DistillConfig.Aggregation.TOKEN_MEAN) {
      double total = 0;
      for (double m : t.mask()) {
        total += m;
      }
      for (int i = 0; i < n; i++) {
        out[i] = t.mask()[i] / Math.max(1, total);
      }
    } else {
      double[] count = new double[t.sequences()];
      for (int i = 0; i < n; i++) {
        count[t.sequence()[i]] += t.mask()[i];
      }
      for (int i = 0; i < n; i++) {
        out[i] = t.mask()[i] / (t.sequences() * Math.max(1, count[t.sequence()[i]]));
      }
    }
    return out;
  }

  /** Per-token loss of a single (N, V) pair without weights or aggregation (for tests, audits). */
  static Tensor tokenDivergence(Tensor student, Tensor teacher, DistillConfig c, int[] tokens) {
    Targets t = new Targets(tokens, new int[tokens.length], 1, ones(tokens.length), null, null);
    return compute(Variable.constant(student), teacher, t, c).tokenLoss();
  }

  private static double[] ones(int n) {
    double[] d = new double[n];
    java.util.Arrays.fill(d, 1);
    return d;
  }

}
