package org.sdpo.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import org.junit.jupiter.api.Test;

class StatsTest {
  @Test
  void studentTIntervalMatchesATableValue() {
    // n = 3: mean 2, sd 1, t(0.975, 2) = 4.302653 -> half-width 4.302653 / sqrt(3)
    double[] m = Stats.meanCi95(new double[] {1, 2, 3});
    assertThat(m[0]).isCloseTo(2.0, within(1e-12));
    assertThat(m[1]).isCloseTo(4.302653 / Math.sqrt(3), within(1e-5));
    assertThat(Stats.meanCi95(new double[] {0.5})[1]).isNaN();
    assertThat(Stats.meanCi95(new double[] {0.25, 0.25})[1]).isZero();
  }
}
