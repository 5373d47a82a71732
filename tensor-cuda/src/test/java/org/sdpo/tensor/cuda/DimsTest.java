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
  void theMultiplyAndShiftDivideEveryDividendByEveryDivisor() {
    qt().withFixedSeed(7L).withExamples(20_000).forAll(longRange(1, Integer.MAX_VALUE),
        longRange(0, Integer.MAX_VALUE)).checkAssert((d, i) -> {
          long m = Dims.magic((int) (long) d);
          int n = (int) (long) i;
          assertThat(Dims.divide(n, m)).as(n + " / " + d).isEqualTo(n / (int) (long) d);
          // the edges: the largest dividend, multiples of d and their neighbours
          int last = Integer.MAX_VALUE;
          assertThat(Dims.divide(last, m)).isEqualTo(last / (int) (long) d);
          long k = n / d * d;
          for (long j = Math.max(0, k - 1); j <= Math.min(Integer.MAX_VALUE, k + 1); j++) {
            assertThat(Dims.divide((int) j, m)).isEqualTo((int) (j / d));
          }
        });
    for (int d = 1; d <= 4096; d++) { // every small divisor, where a wrong shift shows first
      long m = Dims.magic(d);
      for (int n : new int[] {0, 1, d - 1, d, d + 1, 2 * d - 1, 65535, 1 << 20, Integer.MAX_VALUE}) {
        if (n >= 0) {
          assertThat(Dims.divide(n, m)).as(n + " / " + d).isEqualTo(n / d);
        }
      }
    }
  }

  @Test
  void packedDimsLocateAsTheKernelsDo() {
    qt().withFixedSeed(9L).withExamples(300).forAll(longRange(0, 1_000_000)).checkAssert(seed -> {
      Rng rng = new Rng(seed);
      int rank = rng.nextInt(6) + 1;
      int[] shape = new int[rank];
      for (int k = 0; k < rank; k++) {
        shape[k] = 1 + rng.nextInt(7);
      }
      int[][] strides = {layout(rng, shape), layout(rng, shape)};
      Dims d = new Dims(shape, strides);
      java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(KernelSource.Param.DIMS.size + 8)
          .order(java.nio.ByteOrder.LITTLE_ENDIAN);
      b.putInt(0);
      d.pack(b);
      assertThat(b.position()).isEqualTo(4 + KernelSource.Param.DIMS.size);
      Dims back = Dims.unpack(b, 4);
      int[] a = new int[4];
      int[] c = new int[4];
      for (int i = 0; i < d.numel(); i++) {
        d.locate(i, a);
        back.locate(i, c);
        assertThat(c).as("element " + i).containsExactly(a);
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
