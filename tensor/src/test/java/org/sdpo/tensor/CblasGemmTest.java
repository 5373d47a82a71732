package org.sdpo.tensor;

import static org.assertj.core.api.Assertions.assertThat;
import static org.quicktheories.QuickTheory.qt;
import static org.quicktheories.generators.Generate.longRange;

import org.junit.jupiter.api.Test;

/**
 * The CPU backend's direct OpenBLAS matrix multiply gives bit for bit what ND4J's own gives, on
 * random shapes (past OpenBLAS's blocking sizes), transposes, permuted (column-major) views,
 * batches, views into larger tensors (at an offset, with a leading dimension past the columns)
 * and both dtypes, so every recorded result stays what it was. (A first version also
 * took float64 matrix-vector products; they differed in the last bits, because ND4J does not
 * compute them with dgemm. This test found it. Views at an offset were read from the wrong place
 * until this test drew them: a view's data buffer already starts at its own offset.)
 */
class CblasGemmTest {
  static final Nd4jBackend CPU = (Nd4jBackend) Backends.current();

  @Test
  void bitIdenticalToNd4jsMatmul() {
    qt().withFixedSeed(9L).withExamples(500).forAll(longRange(0, 1_000_000)).checkAssert(seed -> {
      Rng rng = new Rng(seed);
      DType dt = rng.nextBoolean() ? DType.FLOAT32 : DType.FLOAT64;
      boolean batched = rng.nextBoolean();
      int bt = 1 + rng.nextInt(3);
      boolean large = seed % 4 == 0; // past OpenBLAS's blocking sizes too
      int m = seed % 5 == 1 ? 1 : 1 + rng.nextInt(large ? 300 : 40); // decode: one query row
      int k = 1 + rng.nextInt(large ? 1500 : 40);
      int n = seed % 5 == 2 ? 1 : 1 + rng.nextInt(large ? 300 : 40);
      boolean ta = rng.nextBoolean();
      boolean tb = rng.nextBoolean();
      Tensor a = operand(rng, dt, batched, bt, ta ? k : m, ta ? m : k);
      Tensor b = operand(rng, dt, batched, bt, tb ? n : k, tb ? k : n);
      int[] os = batched ? new int[] {bt, m, n} : new int[] {m, n};
      Tensor direct = rng.nextBoolean() ? Tensor.zeros(dt, os) : window(rng, dt, os);
      Tensor nd4j = Tensor.zeros(dt, os);
      boolean taken = CblasGemm.multiply(Nd4jBackend.arr(a), Nd4jBackend.arr(b),
          Nd4jBackend.arr(direct), ta, tb);
      // every layout here is one BLAS reads; only float64 matrix-vector products go to ND4J
      assertThat(taken).as("direct path for %s m %d n %d", dt, m, n)
          .isEqualTo(dt == DType.FLOAT32 || m > 1 && n > 1);
      if (!taken) {
        return;
      }
      CPU.matmulNd4j(a, b, nd4j, ta, tb);
      assertThat(direct.toDoubleArray()).as("seed " + seed).containsExactly(nd4j.toDoubleArray());
    });
  }

  /**
   * Rank 4, two batch axes with each operand's own strides (attention's heads where a projection
   * wrote them: (B, T, n H, D) read as (B, H, T, D)): every matrix bit for bit the rank-3
   * product of contiguous copies, which is what the composed attention multiplies.
   */
  @Test
  void twoBatchAxesReadInPlaceGiveTheContiguousProducts() {
    qt().withFixedSeed(11L).withExamples(200).forAll(longRange(0, 1_000_000)).checkAssert(seed -> {
      Rng rng = new Rng(seed);
      int B = 1 + rng.nextInt(3);
      int H = 1 + rng.nextInt(4);
      int T = 1 + rng.nextInt(seed % 4 == 0 ? 300 : 30);
      int D = 1 + rng.nextInt(seed % 4 == 0 ? 130 : 20);
      boolean tb = rng.nextBoolean(); // Q Kᵀ, or (P) V
      Tensor qkv = Tensor.normal(rng, DType.FLOAT32, 0, 1, B, T, 3 * H, D);
      Tensor q = qkv.permute(0, 2, 1, 3).slice(1, 0, H); // (B, H, T, D) views
      Tensor k = qkv.permute(0, 2, 1, 3).slice(1, H, 2 * H);
      Tensor a = tb ? q : Tensor.normal(rng, DType.FLOAT32, 0, 1, B, H, T, T);
      int n = tb ? T : D;
      Tensor y = Tensor.zeros(DType.FLOAT32, B, T, H, n); // written through its (B, H, T, n) view
      Tensor out = y.permute(0, 2, 1, 3);
      assertThat(CblasGemm.multiply(Nd4jBackend.arr(a), Nd4jBackend.arr(k), Nd4jBackend.arr(out),
          false, tb)).isTrue();
      Tensor want = a.contiguous().reshape(B * H, T, -1)
          .matmul(k.contiguous().reshape(B * H, T, D), false, tb);
      assertThat(out.contiguous().reshape(B * H, T, n).toDoubleArray()).as("seed " + seed)
          .containsExactly(want.toDoubleArray());
    });
  }

  /** Random values (r, c), contiguous or stored transposed (a column-major view). */
  static Tensor operand(Rng rng, DType dt, boolean batched, int bt, int r, int c) {
    boolean columnMajor = rng.nextBoolean();
    int[] stored = columnMajor ? new int[] {c, r} : new int[] {r, c};
    if (batched) {
      stored = new int[] {bt, stored[0], stored[1]};
    }
    Tensor t = rng.nextInt(3) == 0 ? window(rng, dt, stored).assign(Tensor.normal(rng, dt, 0, 1,
        stored)) : Tensor.normal(rng, dt, 0, 1, stored);
    if (!columnMajor) {
      return t;
    }
    return batched ? t.permute(0, 2, 1) : t.transpose(0, 1);
  }

  /**
   * A view of the given shape inside a larger tensor of random values: at an offset along its
   * first axis, or a window of its columns (a leading dimension larger than the columns).
   */
  static Tensor window(Rng rng, DType dt, int[] shape) {
    int[] big = shape.clone();
    int axis = rng.nextBoolean() ? 0 : shape.length - 1;
    int before = 1 + rng.nextInt(3);
    big[axis] += before + rng.nextInt(3);
    return Tensor.normal(rng, dt, 0, 1, big).slice(axis, before, before + shape[axis]);
  }

  @Test
  void layoutsBlasCannotReadAndMatrixVectorProductsGoThroughNd4j() {
    // a row-major output is required; a transposed output view is refused
    Tensor a = Tensor.ones(DType.FLOAT32, 3, 4);
    Tensor b = Tensor.ones(DType.FLOAT32, 4, 5);
    Tensor out = Tensor.zeros(DType.FLOAT32, 5, 3).transpose(0, 1);
    assertThat(CblasGemm.multiply(Nd4jBackend.arr(a), Nd4jBackend.arr(b), Nd4jBackend.arr(out),
        false, false)).isFalse();
    // and the backend still multiplies it
    CPU.matmul(a, b, out, false, false);
    assertThat(out.toDoubleArray()).containsOnly(4.0);
    Tensor v = Tensor.zeros(DType.FLOAT64, 3, 1);
    assertThat(CblasGemm.multiply(Nd4jBackend.arr(a.to(DType.FLOAT64)),
        Nd4jBackend.arr(Tensor.ones(DType.FLOAT64, 4, 1)), Nd4jBackend.arr(v), false, false))
        .isFalse();
  }
}
