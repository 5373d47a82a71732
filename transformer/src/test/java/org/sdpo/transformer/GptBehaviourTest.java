package org.sdpo.transformer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;
import org.sdpo.autograd.Grad;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.DType;
import org.sdpo.tensor.Rng;
import org.sdpo.tensor.Tensor;
import org.sdpo.transformer.nn.KvCache;

/**
 * What every architecture must do (padding, cached decoding, learning, clear errors, forwards
 * without a graph), run on GPT-2 here and on the Llama family by {@link LlamaBehaviourTest}.
 */
class GptBehaviourTest {
  static final GptConfig CFG = GptConfig.of(23, 32, 16, 2, 4);

  /** A small model of 23 tokens and 32 positions. */
  CausalLm model(DType d) {
    return Gpt.init(CFG, d, new Rng(3));
  }

  /** A 4-layer model of 23 tokens and 32 positions. */
  CausalLm deeper(DType d) {
    return Gpt.init(GptConfig.of(23, 32, 16, 4, 4), d, new Rng(7));
  }

  /**
   * The logits are the head of the last hidden states, bit for bit, with the same gradients (the
   * update in chunks builds on it); the hidden states' inputs are checked as the forward's are.
   */
  @Test
  void forwardIsTheHeadOfTheHiddenStates() {
    for (DType d : new DType[] {DType.FLOAT32, DType.FLOAT64}) {
      CausalLm m = model(d);
      int[] ids = {5, 9, 1, 7, 3, 22, 0, 14};
      Tensor mask = Tensor.of(d, new double[] {0, 1, 1, 1, 1, 1, 1, 1}, 2, 4);
      int[] pos = {0, 0, 1, 2, 0, 1, 2, 3};
      Variable logits = m.forward(ids, 2, 4, mask, pos, null); // (2, 4, V)
      Variable h = m.forwardHidden(ids, 2, 4, mask, pos); // (2, 4, C)
      int C = m.headWeight().dim(1);
      assertThat(h.shape()).containsExactly(2, 4, C);
      Variable viaHead = m.head(org.sdpo.autograd.F.reshape(h, 8, h.dim(2)));
      assertThat(viaHead.value().toDoubleArray()).as(d.name())
          .containsExactly(logits.value().toDoubleArray());
      Tensor g = Tensor.normal(new Rng(1), d, 0, 1, 8, m.config().vocabSize());
      m.zeroGrad();
      logits.backward(g.reshape(2, 4, m.config().vocabSize()));
      java.util.Map<String, double[]> direct = new java.util.LinkedHashMap<>();
      m.namedParameters().forEach((n, v) -> direct.put(n, v.grad().toDoubleArray()));
      m.zeroGrad();
      viaHead.backward(g);
      m.namedParameters().forEach((n, v) -> assertThat(v.grad().toDoubleArray())
          .as(d + " " + n).containsExactly(direct.get(n)));
      assertThat(m.headWeight().dim(0)).isEqualTo(m.config().vocabSize());
    }
    CausalLm m = model(DType.FLOAT64);
    assertThatThrownBy(() -> m.forwardHidden(new int[] {1, 2, 99}, 1, 3, null, null))
        .hasMessageContaining("token id 99");
  }

  @Test
  void padsNeverChangeTheLogitsOfRealTokens() {
    CausalLm m = model(DType.FLOAT64);
    int[] real = {5, 9, 1, 7, 3};
    Tensor alone;
    try (Grad.Scope s = Grad.disabled()) {
      alone = m.forward(real, 1, 5).value(); // (1, 5, V)
      // the same tokens right-padded with random garbage, and left-padded with explicit positions
      int[] right = {5, 9, 1, 7, 3, 22, 0, 14};
      Tensor rmask = Tensor.of(DType.FLOAT64, new double[] {1, 1, 1, 1, 1, 0, 0, 0}, 1, 8);
      Tensor r = m.forward(right, 1, 8, rmask, null, null).value();
      assertThat(r.slice(1, 0, 5).copy().maxAbsDiff(alone)).isLessThan(1e-12);
      int[] left = {11, 4, 5, 9, 1, 7, 3};
      Tensor lmask = Tensor.of(DType.FLOAT64, new double[] {0, 0, 1, 1, 1, 1, 1}, 1, 7);
      int[] lpos = {0, 0, 0, 1, 2, 3, 4};
      Tensor l = m.forward(left, 1, 7, lmask, lpos, null).value();
      assertThat(l.slice(1, 2, 7).copy().maxAbsDiff(alone)).isLessThan(1e-12);
    }
  }

  @Test
  void cachedDecodingGivesTheLogitsOfAFullForward() {
    CausalLm m = model(DType.FLOAT64);
    int[] seq = {2, 8, 8, 13, 0, 21, 6, 6, 19, 4};
    int B = 2;
    int[] both = new int[B * seq.length];
    for (int b = 0; b < B; b++) {
      for (int t = 0; t < seq.length; t++) {
        both[b * seq.length + t] = (seq[t] + b) % CFG.vocabSize();
      }
    }
    try (Grad.Scope s = Grad.disabled()) {
      Tensor full = m.forward(both, B, seq.length).value(); // (B, T, V)
      KvCache cache = m.newCache(B, 16);
      int prefix = 4;
      int[] first = new int[B * prefix];
      for (int b = 0; b < B; b++) {
        System.arraycopy(both, b * seq.length, first, b * prefix, prefix);
      }
      Tensor p = m.forward(first, B, prefix, null, null, cache).value();
      assertThat(p.maxAbsDiff(full.slice(1, 0, prefix).copy())).isLessThan(1e-12);
      for (int t = prefix; t < seq.length; t++) {
        int[] one = {both[t], both[seq.length + t]};
        Tensor step = m.forward(one, B, 1, null, null, cache).value(); // (B, 1, V)
        assertThat(step.maxAbsDiff(full.slice(1, t, t + 1).copy())).as("position " + t)
            .isLessThan(1e-12);
      }
      assertThat(cache.length()).isEqualTo(seq.length);
    }
  }

  @Test
  void overfitsASmallBatch() {
    CausalLm m = model(DType.FLOAT32);
    int[] ids = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    int[] targets = new int[16];
    for (int i = 0; i < 16; i++) {
      targets[i] = (ids[i] * 7) % CFG.vocabSize();
    }
    var opt = new org.sdpo.transformer.train.AdamW(m.namedParameters(),
        new org.sdpo.transformer.train.AdamW.Settings(0.9, 0.95, 1e-8, 0.0));
    double first = 0;
    double last = 0;
    for (int step = 0; step < 150; step++) {
      Variable loss = org.sdpo.autograd.F.crossEntropy(
          org.sdpo.autograd.F.reshape(m.forward(ids, 2, 8), 16, -1), targets, -100);
      if (step == 0) {
        first = loss.value().item();
      }
      last = loss.value().item();
      loss.backward();
      opt.step(1e-2);
      m.zeroGrad();
    }
    assertThat(first).isGreaterThan(2.5);
    assertThat(last).isLessThan(0.05);
  }

  @Test
  void badInputsAreClearErrors() {
    CausalLm m = model(DType.FLOAT32);
    assertThatThrownBy(() -> m.forward(new int[] {1, 99}, 1, 2))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("token id 99");
    assertThatThrownBy(() -> m.forward(new int[] {1, 2, 3}, 1, 2))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("3 token ids");
    assertThatThrownBy(() -> m.forward(new int[] {1, 2}, 1, 2, null, new int[] {0, 40}, null))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("position id 40");
    assertThatThrownBy(() -> m.newCache(1, 64))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining(m.config().nPositionsKey());
  }

  @Test
  void badSizesNameTheirKey() {
    assertThatThrownBy(() -> GptConfig.of(10, 8, 10, 1, 3))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("n_head");
  }

  /**
   * A forward without a graph inside a workspace runs block by block in nested scopes (one
   * block's buffers at a time): the logits are bit-identical to the forward with a graph, and it
   * takes fewer buffers from the pool.
   */
  @Test
  void aForwardWithoutAGraphIsIdenticalAndHoldsOneBlockAtATime() {
    CausalLm m = deeper(DType.FLOAT32);
    int B = 3;
    int T = 9;
    int[] ids = new int[B * T];
    Rng r = new Rng(8);
    for (int i = 0; i < ids.length; i++) {
      ids[i] = r.nextInt(23);
    }
    org.sdpo.tensor.Workspace withGraph = new org.sdpo.tensor.Workspace();
    double[] expected;
    try (org.sdpo.tensor.Workspace.Scope s = withGraph.enter()) {
      expected = m.forward(ids, B, T).value().toDoubleArray();
    }
    org.sdpo.tensor.Workspace without = new org.sdpo.tensor.Workspace();
    double[] got;
    try (Grad.Scope g = Grad.disabled(); org.sdpo.tensor.Workspace.Scope s = without.enter()) {
      got = m.forward(ids, B, T).value().toDoubleArray();
    }
    assertThat(got).containsExactly(expected);
    assertThat(without.allocations()).isLessThan(withGraph.allocations() / 2);
  }
}
