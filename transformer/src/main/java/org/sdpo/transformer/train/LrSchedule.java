package org.sdpo.transformer.train;

/**
 * Linear warm-up from 0 to {@code maxLr} over {@code warmup} steps, then cosine decay to {@code
 * minLr} at step {@code total}, and {@code minLr} after.
 */
public record LrSchedule(double maxLr, double minLr, int warmup, int total) {
  public LrSchedule {
    if (!(maxLr > 0) || minLr < 0 || minLr > maxLr || warmup < 0 || total < 1) {
      throw new IllegalArgumentException("lr schedule: need max_lr > 0, 0 <= min_lr <= max_lr, "
          + "warmup >= 0, total >= 1; got " + maxLr + ", " + minLr + ", " + warmup + ", " + total);
    }
  }

  /** The learning rate of step {@code step} (0-based). */
  public double at(int step) {
    if (step < warmup) {
      return maxLr * (step + 1) / warmup;
    }
    if (step >= total) {
      return minLr;
    }
    double progress = (double) (step - warmup) / Math.max(1, total - warmup);
    return minLr + 0.5 * (maxLr - minLr) * (1 + Math.cos(Math.PI * progress));
  }
}
