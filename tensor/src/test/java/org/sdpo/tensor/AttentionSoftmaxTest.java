package org.sdpo.tensor;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.quicktheories.QuickTheory.qt;
import static org.quicktheories.generators.Generate.longRange;

import org.junit.jupiter.api.Test;

/**
 * The fused masked softmax of attention gives bit for bit what its composed form gave before it
 * existed: scores times scale, plus a bias of -1e30 where a key is hidden, softmax, and rows
 * that see no key multiplied by 0. Every recorded result computed with the composed form stays
 * reproducible.
 */
class AttentionSoftmaxTest {
  @Test
  void bitIdenticalToTheComposedForm() {
    qt().withFixedSeed(21L).withExamples(300).forAll(longRange(0, 1_000_000)).checkAssert(seed -> {
      Rng rng = new Rng(seed);
      DType dt = rng.nextBoolean() ? DType.FLOAT32 : DType.FLOAT64;
      int B = 1 + rng.nextInt(3);
      int H = 1 + rng.nextInt(4);
      int Tk = 1 + rng.nextInt(seed % 3 == 0 ? 70 : 9);
      int Tq = rng.nextBoolean() ? Tk : 1 + rng.nextInt(Tk);
      int offset = rng.nextInt(Tk - Tq + 1);
      boolean causal = rng.nextBoolean();
      Tensor keyMask = null;
      if (rng.nextBoolean()) {
        double[] km = new double[B * Tk];
        for (int i = 0; i < km.length; i++) {
          km[i] = rng.nextInt(4) == 0 ? 0 : 1; // some queries see no key
        }
        keyMask = Tensor.of(dt, km, B, Tk);
      }
      double scale = 1 / Math.sqrt(1 + rng.nextInt(128));
      Tensor s = Tensor.normal(rng, dt, 0, 4, B, H, Tq, Tk);

      Tensor composed = composed(s, scale, keyMask, causal, offset);
      Tensor fused = Fused.attentionSoftmax(s, scale, keyMask, causal, offset, false);
      assertThat(fused.toDoubleArray()).as("seed %d", seed)
          .containsExactly(composed.toDoubleArray());
      Tensor inPlace = Fused.attentionSoftmax(s.copy(), scale, keyMask, causal, offset, true);
      assertThat(inPlace.toDoubleArray()).as("in place, seed %d", seed)
          .containsExactly(composed.toDoubleArray());
    });
  }

  /** The form attention used before: scale, add the -1e30 bias, softmax, zero empty rows. */
  static Tensor composed(Tensor s, double scale, Tensor keyMask, boolean causal, int offset) {
    int B = s.dim(0);
    int Tq = s.dim(2);
    int Tk = s.dim(3);
    double[] bias = new double[B * Tq * Tk];
    double[] rowVisible = new double[B * Tq];
    boolean emptyRow = false;
    double[] km = keyMask == null ? null : keyMask.toDoubleArray();
    for (int b = 0; b < B; b++) {
      for (int i = 0; i < Tq; i++) {
        boolean any = false;
        for (int j = 0; j < Tk; j++) {
          boolean visible = (!causal || j <= offset + i) && (km == null || km[b * Tk + j] != 0);
          bias[(b * Tq + i) * Tk + j] = visible ? 0 : -1e30;
          any |= visible;
        }
        rowVisible[b * Tq + i] = any ? 1 : 0;
        emptyRow |= !any;
      }
    }
    Tensor p = s.mul(scale).add(Tensor.of(s.dtype(), bias, B, 1, Tq, Tk)).softmax();
    return emptyRow ? p.mul(Tensor.of(s.dtype(), rowVisible, B, 1, Tq, 1)) : p;
  }

  @Test
  void badShapesAreOneLineErrors() {
    Tensor s = Tensor.zeros(DType.FLOAT32, 2, 1, 3, 4);
    assertThatThrownBy(() -> Fused.attentionSoftmax(Tensor.zeros(DType.FLOAT32, 3, 4), 1, null,
        true, 0, false)).hasMessage("attention softmax: scores must be (B, H, Tq, Tk), got [3, 4]");
    assertThatThrownBy(() -> Fused.attentionSoftmax(s, 1, Tensor.zeros(DType.FLOAT32, 2, 3),
        true, 0, false)).hasMessage("attention softmax: key mask must be (B, Tk) = [2, 4], got [2, 3]");
    assertThatThrownBy(() -> Fused.attentionSoftmax(s, 1, null, true, 2, false))
        .hasMessage("attention softmax: query offset 2 with 3 queries does not fit 4 keys");
  }
}
