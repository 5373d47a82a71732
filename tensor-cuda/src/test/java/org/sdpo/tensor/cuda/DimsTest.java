package org.sdpo.tensor.cuda;

import static org.assertj.core.api.Assertions.assertThat;
import static org.quicktheories.QuickTheory.qt;
import static org.quicktheories.generators.Generate.longRange;

import org.junit.jupiter.api.Test;
import org.sdpo.tensor.Rng;

/** Collapsing an index space keeps every element's offset in every operand, in order. */
class DimsTest {

  @Test
  void collapsingKeepsEveryOffset() {
    qt().withFixedSeed(5L).withExamples(500).forAll(longRange(0, 1_000_000)).checkAssert(seed -> {
      Rng rng = new Rng(seed);
      int rank = rng.nextInt(6) + 1;
      int[] shape = new int[rank];
      for (int k = 0; k < rank; k++) {
        shape[k] = 1 + rng.nextInt(4);
      }
      int operands = 1 + rng.nextInt(4);
      int[][] strides = new int[operands][];
      for (int op = 0; op < operands; op++) {
        strides[op] = layout(rng, shape);
      }
      Dims full = new Dims(shape, strides);
      Dims small = Dims.collapsed(shape, strides);
      assertThat(small.numel()).isEqualTo(full.numel());
      assertThat(small.shape.length).isLessThanOrEqualTo(rank);
      int[] a = new int[4];
      int[] b = new int[4];
      for (int i = 0; i < full.numel(); i++) {
        full.locate(i, a);
        small.locate(i, b);
        assertThat(b).as("element " + i).containsExactly(a);
      }
    });
  }

  @Test
  void aContiguousTensorIsOneAxis() {
    Dims d = Dims.collapsed(new int[] {2, 1, 3, 4}, new int[] {12, 12, 4, 1}, new int[] {0, 0, 4, 1});
    assertThat(d.shape).containsExactly(2, 12);
    Dims c = Dims.collapsed(new int[] {2, 3, 4}, new int[] {12, 4, 1});
    assertThat(c.shape).containsExactly(24);
  }

  /** Row-major, permuted, broadcast (zero) or padded strides for shape. */
  static int[] layout(Rng rng, int[] shape) {
    int[] s = new int[shape.length];
    int kind = rng.nextInt(4);
    int acc = 1 + (kind == 3 ? rng.nextInt(3) : 0);
    int[] order = new int[shape.length];
    for (int k = 0; k < order.length; k++) {
      order[k] = shape.length - 1 - k;
    }
    if (kind == 1) { // a permutation
      for (int k = order.length - 1; k > 0; k--) {
        int j = rng.nextInt(k + 1);
        int t = order[k];
        order[k] = order[j];
        order[j] = t;
      }
    }
    for (int k : order) {
      s[k] = kind == 2 && rng.nextBoolean() ? 0 : acc;
      acc *= shape[k] + (kind == 3 ? rng.nextInt(2) : 0);
    }
    return s;
  }
}
