package org.sdpo.autograd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.quicktheories.QuickTheory.qt;
import static org.quicktheories.generators.Generate.longRange;

import java.util.function.Function;
import org.junit.jupiter.api.Test;
import org.sdpo.autograd.check.OpCatalog;
import org.sdpo.tensor.DType;
import org.sdpo.tensor.Fused;
import org.sdpo.tensor.Rng;
import org.sdpo.tensor.Tensor;

/**
 * The packed self-attention op against the form it replaced in GPT-2's attention block (three
 * slices, head permutes, the fused attention op, the output permute), in float32 on the CPU: the
 * same bits forward and backward, so every recorded training run stays what it was. Its float64
 * gradient check and its composed twin are in the op catalogue.
 */
class QkvAttentionTest {

  @Test
  void bitIdenticalToSlicesPermutesAndAttention() {
    sameAsSlicedAndPermuted(60);
  }

  /**
   * The flash form (the log-sum-exp kept, P recomputed) reads Q, K, V in qkv and writes O into y
   * and dQ, dK, dV into dqkv where they lie; the composed form's attention op gets contiguous
   * copies. The CPU's flash loops sum in the same order whatever the strides, so the bits agree.
   */
  @Test
  void theFlashFormReadsHeadsInPlaceBitIdenticalToSlicesAndPermutes() {
    Fused.AttentionPath old = Fused.attentionPath(Fused.AttentionPath.FLASH);
    try {
      sameAsSlicedAndPermuted(30);
    } finally {
      Fused.attentionPath(old);
    }
  }

  /**
   * The general attention op's flash form (Llama's grouped-query heads) takes q, k, v as they
   * come: permuted views of (B, T, heads, D) projections give, forward and in every gradient, the
   * bits that contiguous (B, heads, T, D) inputs of the same values give.
   */
  @Test
  void theAttentionOpsFlashFormReadsViewsBitIdenticalToContiguousInputs() {
    Fused.AttentionPath old = Fused.attentionPath(Fused.AttentionPath.FLASH);
    try {
      qt().withFixedSeed(5L).withExamples(20).forAll(longRange(0, 1_000_000)).checkAssert(seed -> {
        Rng rng = new Rng(seed);
        int B = 1 + rng.nextInt(2);
        int Hkv = 1 + rng.nextInt(2);
        int H = Hkv * (1 + rng.nextInt(3));
        int T = 1 + rng.nextInt(20);
        int D = 1 + rng.nextInt(9);
        boolean causal = rng.nextBoolean();
        Tensor mask = rng.nextBoolean() ? OpCatalog.rightPadding(rng, B, T) : null;
        Tensor[] x = { // (B, T, heads, D) as projections give them
          Tensor.normal(rng, DType.FLOAT32, 0, 1, B, T, H, D),
          Tensor.normal(rng, DType.FLOAT32, 0, 1, B, T, Hkv, D),
          Tensor.normal(rng, DType.FLOAT32, 0, 1, B, T, Hkv, D)};
        Tensor r = Tensor.normal(rng, DType.FLOAT32, 0, 1, B, H, T, D);
        Variable[] viewed = new Variable[3];
        Variable[] dense = new Variable[3];
        for (int i = 0; i < 3; i++) {
          viewed[i] = Variable.param(x[i].copy());
          dense[i] = Variable.param(x[i].permute(0, 2, 1, 3).contiguous());
        }
        Variable a = F.attention(F.permute(viewed[0], 0, 2, 1, 3),
            F.permute(viewed[1], 0, 2, 1, 3), F.permute(viewed[2], 0, 2, 1, 3), causal, mask, 0);
        Variable b = F.attention(dense[0], dense[1], dense[2], causal, mask, 0);
        String what = "B " + B + " H " + H + " Hkv " + Hkv + " T " + T + " D " + D;
        assertThat(bits(a.value())).as("forward, " + what).containsExactly(bits(b.value()));
        a.backward(r);
        b.backward(r);
        for (int i = 0; i < 3; i++) {
          assertThat(bits(viewed[i].grad().permute(0, 2, 1, 3))).as("gradient %d, %s", i, what)
              .containsExactly(bits(dense[i].grad()));
        }
      });
    } finally {
      Fused.attentionPath(old);
    }
  }

  private static void sameAsSlicedAndPermuted(int examples) {
    qt().withFixedSeed(11L).withExamples(examples).forAll(longRange(0, 1_000_000))
        .checkAssert(seed -> {
      Rng rng = new Rng(seed);
      int B = 1 + rng.nextInt(3);
      int H = 1 + rng.nextInt(4);
      int T = 1 + rng.nextInt(seed % 3 == 0 ? 80 : 12);
      int D = 1 + rng.nextInt(seed % 3 == 0 ? 40 : 6);
      boolean causal = rng.nextInt(4) != 0;
      Tensor mask = rng.nextBoolean() ? OpCatalog.rightPadding(rng, B, T) : null;
      Tensor qkv = Tensor.normal(rng, DType.FLOAT32, 0, 1, B, T, 3 * H * D);
      Tensor r = Tensor.normal(rng, DType.FLOAT32, 0, 1, B, T, H * D);
      String what = "B " + B + " H " + H + " T " + T + " D " + D + " causal " + causal
          + " mask " + (mask != null);
      Tensor[] packed = valueAndGrad(qkv, r, x -> F.qkvAttention(x, H, causal, mask));
      Tensor[] apart = valueAndGrad(qkv, r, x -> slicedAndPermuted(x, H, causal, mask));
      assertThat(bits(packed[0])).as("forward, " + what).containsExactly(bits(apart[0]));
      assertThat(bits(packed[1])).as("gradient, " + what).containsExactly(bits(apart[1]));
    });
  }

  /**
   * The premise of the bit-identity above: the old form added zeros to dQ, dK and dV, which would
   * turn a -0 into +0, and the CPU's products never give -0 (OpenBLAS adds the accumulated product
   * to a zeroed output), even where every term is -0.
   */
  @Test
  void theCpusProductsGivePositiveZeroWhereEveryTermIsNegativeZero() {
    int[][] shapes = {{1, 1, 1}, {4, 3, 5}, {64, 32, 64}, {256, 40, 33}};
    for (int[] s : shapes) {
      for (boolean transposed : new boolean[] {false, true}) {
        Tensor a = Tensor.full(DType.FLOAT32, -0.0, transposed ? s[1] : s[0],
            transposed ? s[0] : s[1]);
        Tensor b = Tensor.ones(DType.FLOAT32, s[1], s[2]);
        int[] out = bits(a.matmul(b, transposed, false));
        assertThat(out).as("%s transposed %s", java.util.Arrays.toString(s), transposed)
            .containsOnly(0);
      }
    }
  }

  /** GPT-2's attention block before this op: Q, K, V sliced out and permuted, heads permuted back. */
  static Variable slicedAndPermuted(Variable qkv, int H, boolean causal, Tensor mask) {
    int B = qkv.dim(0);
    int T = qkv.dim(1);
    int C = qkv.dim(2) / 3;
    Variable[] h = new Variable[3];
    for (int i = 0; i < 3; i++) {
      Variable part = F.reshape(F.slice(qkv, 2, i * C, (i + 1) * C), B, T, H, C / H);
      h[i] = F.permute(part, 0, 2, 1, 3);
    }
    Variable y = F.attention(h[0], h[1], h[2], causal, mask);
    return F.reshape(F.permute(y, 0, 2, 1, 3), B, T, C);
  }

  static Tensor[] valueAndGrad(Tensor x, Tensor r, Function<Variable, Variable> f) {
    Variable p = Variable.param(x.copy());
    Variable y = f.apply(p);
    Tensor value = y.value().copy();
    y.backward(r);
    return new Tensor[] {value, p.grad()};
  }

  static int[] bits(Tensor t) {
    float[] f = t.toFloatArray();
    int[] b = new int[f.length];
    for (int i = 0; i < f.length; i++) {
      b[i] = Float.floatToRawIntBits(f[i]);
    }
    return b;
  }

  @Test
  void badShapesGetOneLineMessages() {
    Variable x = Variable.param(Tensor.zeros(DType.FLOAT32, 2, 3, 10));
    assertThatThrownBy(() -> F.qkvAttention(x, 2, true, null))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("qkv attention: expected qkv (B, T, 3 * heads * D) for 2 heads, got [2, 3, 10]");
    Variable y = Variable.param(Tensor.zeros(DType.FLOAT32, 2, 12));
    assertThatThrownBy(() -> F.qkvAttention(y, 2, true, null))
        .hasMessage("qkv attention: expected qkv (B, T, 3 * heads * D) for 2 heads, got [2, 12]");
    Variable z = Variable.param(Tensor.zeros(DType.FLOAT32, 2, 3, 12));
    assertThatThrownBy(() -> F.qkvAttention(z, 2, true, Tensor.ones(DType.FLOAT32, 2, 4)))
        .hasMessageStartingWith("attention: key mask must be (B, Tk) = [2, 3], got");
  }
}
