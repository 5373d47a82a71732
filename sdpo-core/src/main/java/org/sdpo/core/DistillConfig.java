package org.sdpo.core;

/**
 * The knobs of SDPO's distillation objective, named as in the reference implementation
 * ({@code self_distillation.*} in lasgroup/SDPO, {@code distillation_*} in TRL).
 *
 * @param alpha 0 forward KL(q || p), 1 reverse KL(p || q) (the paper's Eq. 1), in between the
 *     generalized Jensen-Shannon divergence with the mixture m = (1 - alpha) p + alpha q
 * @param topK null for the full vocabulary, else the student's top-K tokens per position
 * @param addTail with top-K: one extra bucket holding the remaining mass (else renormalise on the
 *     top-K support)
 * @param mode LOGIT (a divergence over buckets) or SAMPLED_TOKEN (the reverse-KL estimator on the
 *     sampled token only; alpha must be 1)
 * @param temperature both models' logits are divided by it (the rollout temperature)
 * @param isClip upper clip of the detached current/old policy ratio on the sampled token; null
 *     disables the weight
 * @param rolloutIsClip upper clip of the detached old/sampler ratio (rollout correction); null
 *     disables it
 * @param aggregation how per-token losses become one number
 */
public record DistillConfig(double alpha, Integer topK, boolean addTail, Mode mode,
    double temperature, Double isClip, Double rolloutIsClip, Aggregation aggregation) {

  /** Divergence over buckets, or the sampled-token estimator. */
  public enum Mode {
    LOGIT,
    SAMPLED_TOKEN
  }

  /** Per-token losses to one number. */
  public enum Aggregation {
    /**
     * Mean over sequences of each sequence's token mean, masked sequences counting in the
     * denominator with 0 (the authors' effective setting with micro-batch 1, and TRL's).
     */
    SEQ_MEAN_TOKEN_MEAN,
    /** Sum over all unmasked tokens / their number (a global token mean). */
    TOKEN_MEAN
  }

  public DistillConfig {
    if (!(alpha >= 0 && alpha <= 1)) {
      throw new IllegalArgumentException("alpha must be in [0, 1], got " + alpha);
    }
    if (topK != null && topK < 1) {
      throw new IllegalArgumentException("top_k must be >= 1 or null, got " + topK);
    }
    if (mode == Mode.SAMPLED_TOKEN && alpha != 1.0) {
      throw new IllegalArgumentException(
          "the sampled-token estimator is a reverse-KL estimator: alpha must be 1, got " + alpha);
    }
    if (!(temperature > 0)) {
      throw new IllegalArgumentException("temperature must be > 0, got " + temperature);
    }
    if (isClip != null && !(isClip > 0)) {
      throw new IllegalArgumentException("is_clip must be > 0 or null, got " + isClip);
    }
    if (rolloutIsClip != null && !(rolloutIsClip > 0)) {
      throw new IllegalArgumentException("rollout_is_clip must be > 0 or null, got " + rolloutIsClip);
    }
  }

  /** The rich-feedback setting of the paper (§4): reverse KL over the student's top-20 + tail. */
  public static DistillConfig reverseKlTopK(int k) {
    return new DistillConfig(1.0, k, true, Mode.LOGIT, 1.0, 2.0, 2.0,
        Aggregation.SEQ_MEAN_TOKEN_MEAN);
  }

  /** The no-feedback setting of the paper (§3): Jensen-Shannon (alpha 0.5) over top-100 + tail. */
  public static DistillConfig jensenShannonTopK(int k) {
    return new DistillConfig(0.5, k, true, Mode.LOGIT, 1.0, 2.0, 2.0,
        Aggregation.SEQ_MEAN_TOKEN_MEAN);
  }

  /** A full-vocabulary divergence with no importance weights (for tests and audits). */
  public static DistillConfig full(double alpha) {
    return new DistillConfig(alpha, null, false, Mode.LOGIT, 1.0, null, null,
        Aggregation.SEQ_MEAN_TOKEN_MEAN);
  }
}
