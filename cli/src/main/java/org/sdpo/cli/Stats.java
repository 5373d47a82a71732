package org.sdpo.cli;

import org.apache.commons.math3.distribution.TDistribution;

/** Mean and 95% confidence interval over seeds (Student's t, n - 1 degrees of freedom). */
final class Stats {
  private Stats() {}

  /** {mean, half-width of the 95% interval}; the half-width is NaN for a single value. */
  static double[] meanCi95(double[] xs) {
    int n = xs.length;
    double mean = 0;
    for (double x : xs) {
      mean += x / n;
    }
    if (n < 2) {
      return new double[] {mean, Double.NaN};
    }
    double ss = 0;
    for (double x : xs) {
      ss += (x - mean) * (x - mean);
    }
    double sd = Math.sqrt(ss / (n - 1));
    double t = new TDistribution(n - 1).inverseCumulativeProbability(0.975);
    return new double[] {mean, t * sd / Math.sqrt(n)};
  }
}
