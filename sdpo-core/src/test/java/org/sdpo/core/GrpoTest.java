package org.sdpo.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import org.junit.jupiter.api.Test;
import org.sdpo.autograd.F;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.DType;
import org.sdpo.tensor.Rng;
import org.sdpo.tensor.Tensor;

class GrpoTest {
  static final DType D = DType.FLOAT64;

  @Test
  void groupRelativeAdvantages() {
    double[] a = Grpo.advantages(new double[] {1, 0, 0, 1, 1, 1}, new int[] {0, 0, 0, 0, 1, 1}, false);
    assertThat(a).containsExactly(0.5, -0.5, -0.5, 0.5, 0, 0);
    double[] s = Grpo.advantages(new double[] {1, 0, 0, 1}, new int[] {0, 0, 0, 0}, true);
    double std = Math.sqrt(1.0 / 3); // sample std of (1, 0, 0, 1)
    assertThat(s[0]).isCloseTo(0.5 / (std + 1e-6), within(1e-9));
  }

  @Test
  void ppoClipLimitsTheRatio() {
    // log p = log 0.6, log p_old = log 0.4: ratio 1.5 > 1.28
    Variable lp = Variable.param(Tensor.of(D, new double[] {Math.log(0.6), Math.log(0.6)}, 2));
    double[] old = {Math.log(0.4), Math.log(0.4)};
    Variable l = Grpo.tokenLoss(lp, old, null, null, new double[] {1, -1}, Grpo.Config.reference());
    assertThat(l.value().get(0)).isCloseTo(-1.28, within(1e-12)); // positive advantage: clipped
    assertThat(l.value().get(1)).isCloseTo(1.5, within(1e-12)); // negative: the unclipped w A is larger
    F.sum(l).backward();
    assertThat(lp.grad().get(0)).isEqualTo(0.0); // no gradient through the clip
    assertThat(lp.grad().get(1)).isCloseTo(1.5, within(1e-12)); // d(-w A)/dlp = -w A
  }

  @Test
  void onPolicyGrpoIsThePolicyGradient() {
    Variable lp = Variable.param(Tensor.of(D, new double[] {-0.3, -2.0}, 2));
    Variable l = Grpo.tokenLoss(lp, null, null, null, new double[] {0.7, -0.2}, Grpo.Config.reference());
    F.sum(l).backward();
    assertThat(lp.grad().toDoubleArray()).containsExactly(new double[] {-0.7, 0.2}, within(1e-12));
  }

  @Test
  void advantageBlendEndpointsAreSdpoAndGrpo() {
    Tensor z = Tensor.normal(new Rng(1), D, 0, 1, 3, 5);
    Tensor zq = Tensor.normal(new Rng(2), D, 0, 1, 3, 5);
    int[] tokens = {1, 4, 0};
    double[] adv = {0.5, -0.5, 1.0};
    // lambda 0: the reverse-KL SDPO gradient
    Variable s1 = Variable.param(z.copy());
    F.sum(Grpo.blendTokenLoss(F.logSoftmax(s1), zq.logSoftmax(), tokens, adv, 0.0, null)).backward();
    Variable s2 = Variable.param(z.copy());
    F.sum(DistillationLoss.divergence(F.logSoftmax(s2), Variable.constant(zq.logSoftmax()), 1.0))
        .backward();
    assertThat(s1.grad().maxAbsDiff(s2.grad())).isLessThan(1e-12);
    // lambda 1: the on-policy GRPO gradient -A grad log p(y)
    Variable s3 = Variable.param(z.copy());
    F.sum(Grpo.blendTokenLoss(F.logSoftmax(s3), zq.logSoftmax(), tokens, adv, 1.0, null)).backward();
    Variable s4 = Variable.param(z.copy());
    F.sum(Grpo.tokenLoss(F.pick(F.logSoftmax(s4), tokens), null, null, null, adv,
        Grpo.Config.reference())).backward();
    assertThat(s3.grad().maxAbsDiff(s4.grad())).isLessThan(1e-12);
    // an advantage clip of 0 removes the SDPO part
    Variable s5 = Variable.param(z.copy());
    F.sum(Grpo.blendTokenLoss(F.logSoftmax(s5), zq.logSoftmax(), tokens, adv, 0.0, 0.0)).backward();
    assertThat(s5.grad().maxAbsDiff(Tensor.zeros(D, 3, 5))).isLessThan(1e-15);
  }
}
