package org.sdpo.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;
import static org.quicktheories.QuickTheory.qt;
import static org.quicktheories.generators.Generate.longRange;
import static org.quicktheories.generators.Generate.range;

import org.junit.jupiter.api.Test;
import org.sdpo.autograd.Variable;
import org.sdpo.core.DistillConfig.Aggregation;
import org.sdpo.core.DistillConfig.Mode;
import org.sdpo.tensor.DType;
import org.sdpo.tensor.Rng;
import org.sdpo.tensor.Tensor;

/** The loss math against the reference doc's test vectors (§8.1) and its properties. */
class DistillationLossTest {
  static final DType D = DType.FLOAT64;

  static Tensor logits(double... probs) {
    double[] l = new double[probs.length];
    for (int i = 0; i < l.length; i++) {
      l[i] = Math.log(probs[i]);
    }
    return Tensor.of(D, l, 1, l.length);
  }

  static double loss(Tensor p, Tensor q, DistillConfig c) {
    return DistillationLoss.tokenDivergence(p, q, c, new int[] {0}).get(0);
  }

  static DistillConfig topK(double alpha, int k, boolean tail) {
    return new DistillConfig(alpha, k, tail, Mode.LOGIT, 1.0, null, null,
        Aggregation.SEQ_MEAN_TOKEN_MEAN);
  }

  @Test
  void fullVocabularyVectors() {
    Tensor p = logits(0.8, 0.2);
    Tensor q = logits(0.5, 0.5);
    assertThat(loss(p, q, DistillConfig.full(0))).isCloseTo(0.22314355, within(1e-8));
    assertThat(loss(p, q, DistillConfig.full(0.25))).isCloseTo(0.03958016, within(1e-8));
    assertThat(loss(p, q, DistillConfig.full(0.5))).isCloseTo(0.05067184, within(1e-8));
    assertThat(loss(p, q, DistillConfig.full(1))).isCloseTo(0.19274476, within(1e-8));
  }

  @Test
  void topKWithAndWithoutTailVectors() {
    Tensor p = logits(0.5, 0.3, 0.2);
    Tensor q = logits(0.2, 0.6, 0.2);
    assertThat(loss(p, q, topK(0, 2, true))).isCloseTo(0.23263016, within(1e-8));
    assertThat(loss(p, q, topK(0.5, 2, true))).isCloseTo(0.05869201, within(1e-8));
    assertThat(loss(p, q, topK(1, 2, true))).isCloseTo(0.25020121, within(1e-8));
    assertThat(loss(p, q, topK(0, 2, false))).isCloseTo(0.29078770, within(1e-8));
    assertThat(loss(p, q, topK(0.5, 2, false))).isCloseTo(0.07336502, within(1e-8));
    assertThat(loss(p, q, topK(1, 2, false))).isCloseTo(0.31275151, within(1e-8));
  }

  @Test
  void tailIsClampedWhenTheTopKHoldAllTheMass() {
    Variable lpK = Variable.constant(Tensor.of(D, new double[] {Math.log(0.5), Math.log(0.5)}, 1, 2));
    assertThat(DistillationLoss.tail(lpK).value().item()).isCloseTo(-16.1181, within(1e-4));
    // near one-hot logits in float32: finite loss and gradient
    Variable s = Variable.param(Tensor.of(DType.FLOAT32, new float[] {80, -80, -80, 0}, 1, 4));
    Tensor t = Tensor.of(DType.FLOAT32, new float[] {-80, 80, -80, 0}, 1, 4);
    DistillationLoss.Result r = DistillationLoss.compute(s, t, targets(new int[] {0}, 1),
        topK(1, 2, true));
    assertThat(r.loss().value().isFinite()).isTrue();
    r.loss().backward();
    assertThat(s.grad().isFinite()).isTrue();
  }

  static DistillationLoss.Targets targets(int[] tokens, int seqs) {
    int[] seq = new int[tokens.length];
    double[] mask = new double[tokens.length];
    java.util.Arrays.fill(mask, 1);
    return new DistillationLoss.Targets(tokens, seq, seqs, mask, null, null);
  }

  @Test
  void sampledTokenVectors() {
    // two positions: student p(y) = 0.9, 0.7; teacher q(y) = 0.6, 0.2 (vocabulary of 2)
    Tensor p = Tensor.of(D, new double[] {Math.log(0.9), Math.log(0.1), Math.log(0.7), Math.log(0.3)}, 2, 2);
    Tensor q = Tensor.of(D, new double[] {Math.log(0.6), Math.log(0.4), Math.log(0.2), Math.log(0.8)}, 2, 2);
    DistillConfig c = new DistillConfig(1, null, false, Mode.SAMPLED_TOKEN, 1, null, null,
        Aggregation.SEQ_MEAN_TOKEN_MEAN);
    Tensor l = DistillationLoss.tokenDivergence(p, q, c, new int[] {0, 0});
    assertThat(l.get(0)).isCloseTo(-0.04272001, within(1e-8));
    assertThat(l.get(1)).isCloseTo(-0.44682916, within(1e-8));
    assertThatThrownBy(() -> new DistillConfig(0.5, null, false, Mode.SAMPLED_TOKEN, 1, null, null,
        Aggregation.TOKEN_MEAN)).hasMessageContaining("alpha must be 1");
  }

  @Test
  void importanceWeightsAreClippedAndIdentityOnPolicy() {
    // per-token loss (1, 2): teacher = student shifted so that the sampled-token loss is known
    double[] lp = {Math.log(0.4), Math.log(0.3)};
    DistillConfig c = new DistillConfig(1, null, false, Mode.SAMPLED_TOKEN, 1, 2.0, null,
        Aggregation.SEQ_MEAN_TOKEN_MEAN);
    DistillationLoss.Targets t = new DistillationLoss.Targets(new int[] {0, 0}, new int[] {0, 0}, 1,
        new double[] {1, 1}, new double[] {Math.log(0.1), Math.log(0.2)}, null);
    Tensor w = DistillationLoss.weights(Tensor.of(D, lp, 2), t, c);
    assertThat(w.toDoubleArray()).containsExactly(new double[] {2.0, 1.5}, within(1e-12));
    // so per-token losses (1, 2) become (2, 3)
    assertThat(1 * w.get(0)).isEqualTo(2.0);
    assertThat(2 * w.get(1)).isCloseTo(3.0, within(1e-12));
    DistillationLoss.Targets onPolicy = targets(new int[] {0, 0}, 1);
    assertThat(DistillationLoss.weights(Tensor.of(D, lp, 2), onPolicy, c).toDoubleArray())
        .containsExactly(1, 1);
  }

  @Test
  void aggregationConventionsAndAllMaskedIsExactlyZero() {
    // seq A: 3 valid tokens of loss 1; seq B: masked
    int[] seq = {0, 0, 0, 1, 1};
    double[] mask = {1, 1, 1, 0, 0};
    DistillationLoss.Targets t = new DistillationLoss.Targets(new int[5], seq, 2, mask, null, null);
    double[] seqMean = DistillationLoss.aggregationWeights(t, Aggregation.SEQ_MEAN_TOKEN_MEAN);
    double[] tokMean = DistillationLoss.aggregationWeights(t, Aggregation.TOKEN_MEAN);
    assertThat(java.util.Arrays.stream(seqMean).sum()).isCloseTo(0.5, within(1e-12));
    assertThat(java.util.Arrays.stream(tokMean).sum()).isCloseTo(1.0, within(1e-12));
    // everything masked: the loss is exactly 0 and backward still runs, with zero gradient
    Variable s = Variable.param(Tensor.normal(new Rng(1), D, 0, 1, 3, 4));
    DistillationLoss.Targets none = new DistillationLoss.Targets(new int[3], new int[3], 1,
        new double[3], null, null);
    DistillationLoss.Result r = DistillationLoss.compute(s, Tensor.normal(new Rng(2), D, 0, 1, 3, 4),
        none, DistillConfig.reverseKlTopK(2));
    assertThat(r.loss().value().item()).isEqualTo(0.0);
    r.loss().backward();
    assertThat(s.grad().maxAbsDiff(Tensor.zeros(D, 3, 4))).isEqualTo(0.0);
  }

  /** Random (N, V) logits from a seed. */
  static Tensor randomLogits(long seed, int n, int v, double scale) {
    return Tensor.normal(new Rng(seed), D, 0, scale, n, v);
  }

  @Test
  void divergenceIsNonNegativeAndZeroOnlyForEqualDistributions() {
    qt().withFixedSeed(31L).withExamples(100)
        .forAll(range(1, 4), range(2, 8), longRange(0, 1_000_000), range(0, 4))
        .checkAssert((n, v, seed, a) -> {
          double alpha = new double[] {0, 0.25, 0.5, 0.9, 1}[a];
          Tensor p = randomLogits(seed, n, v, 2);
          Tensor q = randomLogits(seed + 1, n, v, 2);
          int[] tok = new int[n];
          for (double x : DistillationLoss.tokenDivergence(p, q, DistillConfig.full(alpha), tok)
              .toDoubleArray()) {
            assertThat(x).isGreaterThan(0);
          }
          for (double x : DistillationLoss.tokenDivergence(p, p, DistillConfig.full(alpha), tok)
              .toDoubleArray()) {
            assertThat(x).isCloseTo(0, within(1e-12));
          }
          // adding a constant to all logits of a row changes nothing
          Tensor shifted = p.add(Tensor.scalar(D, 3.7));
          assertThat(DistillationLoss.tokenDivergence(shifted, q, DistillConfig.full(alpha), tok)
              .maxAbsDiff(DistillationLoss.tokenDivergence(p, q, DistillConfig.full(alpha), tok)))
              .isLessThan(1e-12);
        });
  }

  @Test
  void jensenShannonIsSymmetricAndBoundedByLog2() {
    qt().withFixedSeed(32L).withExamples(100)
        .forAll(range(1, 4), range(2, 8), longRange(0, 1_000_000))
        .checkAssert((n, v, seed) -> {
          Tensor p = randomLogits(seed, n, v, 6);
          Tensor q = randomLogits(seed + 1, n, v, 6);
          int[] tok = new int[n];
          Tensor pq = DistillationLoss.tokenDivergence(p, q, DistillConfig.full(0.5), tok);
          Tensor qp = DistillationLoss.tokenDivergence(q, p, DistillConfig.full(0.5), tok);
          assertThat(pq.maxAbsDiff(qp)).isLessThan(1e-12);
          for (double x : pq.toDoubleArray()) {
            assertThat(x).isLessThanOrEqualTo(Math.log(2) + 1e-12);
          }
        });
  }

  @Test
  void topKWithKEqualToVIsTheFullVocabulary() {
    qt().withFixedSeed(33L).withExamples(60)
        .forAll(range(1, 3), range(2, 7), longRange(0, 1_000_000), range(0, 2))
        .checkAssert((n, v, seed, a) -> {
          double alpha = new double[] {0, 0.5, 1}[a];
          Tensor p = randomLogits(seed, n, v, 2);
          Tensor q = randomLogits(seed + 1, n, v, 2);
          int[] tok = new int[n];
          Tensor full = DistillationLoss.tokenDivergence(p, q, DistillConfig.full(alpha), tok);
          assertThat(DistillationLoss.tokenDivergence(p, q, topK(alpha, v, false), tok)
              .maxAbsDiff(full)).isLessThan(1e-12);
          assertThat(DistillationLoss.tokenDivergence(p, q, topK(alpha, v, true), tok)
              .maxAbsDiff(full)).isLessThan(1e-5); // the clamped tail bucket holds ~1e-7
        });
  }

  @Test
  void autogradGradientsEqualTheAnalyticLogitGradients() {
    qt().withFixedSeed(34L).withExamples(60)
        .forAll(range(2, 7), longRange(0, 1_000_000), range(0, 2))
        .checkAssert((v, seed, a) -> {
          double alpha = new double[] {0, 0.5, 1}[a];
          double[] z = randomLogits(seed, 1, v, 2).toDoubleArray();
          double[] zq = randomLogits(seed + 7, 1, v, 2).toDoubleArray();
          Variable s = Variable.param(Tensor.of(D, z, 1, v));
          DistillationLoss.compute(s, Tensor.of(D, zq, 1, v), targets(new int[] {0}, 1),
              DistillConfig.full(alpha)).loss().backward();
          double[] p = softmax(z);
          double[] q = softmax(zq);
          double[] g = new double[v];
          if (alpha == 0) {
            for (int j = 0; j < v; j++) {
              g[j] = p[j] - q[j]; // forward KL
            }
          } else {
            double[] m = new double[v];
            for (int j = 0; j < v; j++) {
              m[j] = (1 - alpha) * p[j] + alpha * q[j];
            }
            double kl = 0;
            for (int j = 0; j < v; j++) {
              kl += p[j] * Math.log(p[j] / m[j]);
            }
            for (int j = 0; j < v; j++) { // reverse KL is the alpha = 1 case (m = q)
              g[j] = (alpha == 1 ? 1 : 1 - alpha) * p[j] * (Math.log(p[j] / m[j]) - kl);
            }
          }
          assertThat(s.grad().toDoubleArray()).containsExactly(g, within(1e-10));
        });
  }

  static double[] softmax(double[] z) {
    double m = java.util.Arrays.stream(z).max().orElse(0);
    double sum = 0;
    double[] p = new double[z.length];
    for (int i = 0; i < z.length; i++) {
      p[i] = Math.exp(z[i] - m);
      sum += p[i];
    }
    for (int i = 0; i < z.length; i++) {
      p[i] /= sum;
    }
    return p;
  }

  @Test
  void temperatureScalesBothModels() {
    Tensor p = logits(0.8, 0.2).mul(2.0);
    Tensor q = logits(0.5, 0.5).mul(2.0);
    DistillConfig c = new DistillConfig(1, null, false, Mode.LOGIT, 2.0, null, null,
        Aggregation.TOKEN_MEAN);
    assertThat(loss(p, q, c)).isCloseTo(0.19274476, within(1e-8));
  }

  @Test
  void sameStudentAndTeacherGiveZeroLossAndZeroGradient() {
    Tensor z = randomLogits(5, 4, 9, 3);
    for (DistillConfig c : new DistillConfig[] {DistillConfig.full(0.5), DistillConfig.full(1),
        DistillConfig.reverseKlTopK(3), DistillConfig.jensenShannonTopK(3)}) {
      Variable s = Variable.param(z.copy());
      DistillationLoss.Result r = DistillationLoss.compute(s, z, targets(new int[4], 1), c);
      assertThat(r.loss().value().item()).isCloseTo(0, within(1e-12));
      r.loss().backward();
      assertThat(s.grad().maxAbsDiff(Tensor.zeros(D, 4, 9))).isLessThan(1e-12);
    }
  }
}
