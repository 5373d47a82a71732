package org.sdpo.core;

import org.sdpo.autograd.F;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.DType;
import org.sdpo.tensor.Fused;
import org.sdpo.tensor.Tensor;

/**
 * The GRPO baseline (reference doc §1.6, §1.8, Eq. 12) and SDPO's blends with it.
 *
 * <p>GRPO: group-relative advantages A_i = r_i - mean_group(r) (optionally divided by the group's
 * standard deviation), the same for every token of response i; PPO-clipped surrogate
 * -min(w A, clip(w, 1 - eps_low, 1 + eps_high) A) with w = p(y_t) / p_old(y_t), times the detached
 * rollout weight min(p_old / p_rollout, tis_clip); token-mean over unmasked tokens; optionally
 * beta * KL(p || p_ref) by the k3 estimator.
 *
 * <p>Advantage-level blend (paper Eq. 3): the gradient is -sum_j c_j grad log p_j with
 * c_j = lambda * 1[j = y_t] * A_GRPO + (1 - lambda) * p_j * A_SDPO(j), A_SDPO(j) = log q_j - log p_j
 * (optionally clipped to [-c, c]). The GRPO advantage, defined for the sampled token only, is
 * spread over the logits as the indicator of the sampled token: a one-sample estimate of the
 * expectation over p, exactly as in the policy gradient. With lambda = 0 and no clip this is the
 * reverse-KL SDPO gradient; with lambda = 1, the on-policy GRPO gradient.
 */
public final class Grpo {
  private Grpo() {}

  /** GRPO's knobs. */
  public record Config(boolean normalizeStd, double clipLow, double clipHigh, Double tisClip,
      double klCoef) {
    public static Config reference() {
      return new Config(false, 0.2, 0.28, 2.0, 0.0);
    }
  }

  /** r_i - mean of its group (divided by the group's std + 1e-6 if asked). */
  public static double[] advantages(double[] rewards, int[] group, boolean normalizeStd) {
    int groups = 0;
    for (int g : group) {
      groups = Math.max(groups, g + 1);
    }
    double[] sum = new double[groups];
    double[] sq = new double[groups];
    int[] n = new int[groups];
    for (int i = 0; i < rewards.length; i++) {
      sum[group[i]] += rewards[i];
      sq[group[i]] += rewards[i] * rewards[i];
      n[group[i]]++;
    }
    double[] a = new double[rewards.length];
    for (int i = 0; i < rewards.length; i++) {
      int g = group[i];
      double mean = sum[g] / n[g];
      a[i] = rewards[i] - mean;
      if (normalizeStd) {
        double var = Math.max(0, sq[g] / n[g] - mean * mean) * n[g] / Math.max(1, n[g] - 1);
        a[i] /= Math.sqrt(var) + 1e-6;
      }
    }
    return a;
  }

  /**
   * The per-token PPO-clipped GRPO loss (N) before aggregation.
   *
   * @param lpToken log p(y_t) under the current policy (N), with gradient
   * @param oldLogprobs log p_old(y_t), or null when exactly on-policy (w = 1 in value)
   * @param rolloutLogprobs the sampler's log-probs, or null
   * @param refLogprobs the reference model's log-probs for the KL term, or null
   * @param advantage per-token advantages (N)
   */
  public static Variable tokenLoss(Variable lpToken, double[] oldLogprobs, double[] rolloutLogprobs,
      double[] refLogprobs, double[] advantage, Config c) {
    int n = advantage.length;
    DType dt = lpToken.dtype();
    double[] old = oldLogprobs != null ? oldLogprobs : lpToken.value().toDoubleArray();
    Variable ratio = F.exp(F.sub(lpToken, Variable.constant(Tensor.of(dt, old, n)))); // w
    double[] w = ratio.value().toDoubleArray();
    double[] lo = new double[n];
    double[] hi = new double[n];
    double[] tis = new double[n];
    double[] useClipped = new double[n];
    for (int i = 0; i < n; i++) {
      double clipped = Math.max(1 - c.clipLow(), Math.min(1 + c.clipHigh(), w[i]));
      // min(w A, clip(w) A): the clipped branch is chosen when it is smaller
      useClipped[i] = clipped * advantage[i] < w[i] * advantage[i] ? 1 : 0;
      lo[i] = 1 - c.clipLow();
      hi[i] = 1 + c.clipHigh();
      tis[i] = c.tisClip() == null || rolloutLogprobs == null ? 1
          : Math.min(Math.exp(Math.max(-20, Math.min(20, old[i] - rolloutLogprobs[i]))), c.tisClip());
    }
    Tensor adv = Tensor.of(dt, advantage, n);
    Variable clippedRatio = F.where(ratio.value().greater(Tensor.of(dt, hi, n)),
        Variable.constant(Tensor.of(dt, hi, n)),
        F.where(Tensor.of(dt, lo, n).greater(ratio.value()), Variable.constant(Tensor.of(dt, lo, n)),
            ratio));
    Variable chosen = F.where(Tensor.of(dt, useClipped, n), clippedRatio, ratio);
    Variable loss = F.neg(F.mul(F.mul(chosen, Variable.constant(adv)),
        Variable.constant(Tensor.of(dt, tis, n))));
    if (c.klCoef() > 0 && refLogprobs != null) {
      // k3 estimator of KL(p || ref): exp(ref - lp) - (ref - lp) - 1
      Variable d = F.sub(Variable.constant(Tensor.of(dt, refLogprobs, n)), lpToken);
      Variable kl = F.shift(F.sub(F.exp(d), d), -1);
      loss = F.add(loss, F.scale(kl, c.klCoef()));
    }
    return loss;
  }

  /**
   * The advantage-level blend's per-token loss (N) over the full vocabulary: -sum_j sg(c_j) log p_j
   * (see the class comment), with A_SDPO clipped to [-clip, clip] when {@code advantageClip} is set.
   *
   * @param lp the student's log-probabilities (N, V), with gradient
   * @param lq the teacher's (N, V), constant
   */
  public static Variable blendTokenLoss(Variable lp, Tensor lq, int[] tokens, double[] grpoAdvantage,
      double lambda, Double advantageClip) {
    int N = lp.dim(0);
    double[] atToken = new double[N]; // lambda * A_GRPO, added at each row's sampled token
    for (int t = 0; t < N; t++) {
      atToken[t] = lambda * grpoAdvantage[t];
    }
    // c_j = (1 - lambda) p_j clip(log q_j - log p_j) + lambda A_GRPO 1[j = y_t], on the backend
    Tensor c = Fused.blendCoefficients(lp.value(), lp.value().exp(), lq, tokens, atToken, lambda,
        advantageClip); // (N, V)
    return F.neg(F.sum(F.mul(Variable.constant(c), lp), false, -1));
  }
}
