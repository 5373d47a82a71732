package org.sdpo.tensor;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.quicktheories.QuickTheory.qt;
import static org.quicktheories.generators.Generate.longRange;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * The CPU's fused attention ({@link FusedKernels#attention}, what {@link Backend#attention} runs
 * for one query per row): against a float64 reference on every shape the kernel takes, its vector
 * and scalar paths bit for bit, and, where OpenBLAS sums small products as a chain of fused
 * multiply-adds (this project's machines), bit for bit what the composed products give, so every
 * recorded sampling result stays reproducible.
 */
class FusedAttentionTest {
  /** Random attention inputs: float32 q (B, H, Tq, D), k and v (B, Hkv, Tk, D), a key mask. */
  private record Inputs(Tensor q, Tensor k, Tensor v, Tensor keyMask, boolean causal,
      int offset) {
    static Inputs random(Rng rng, int Tq, int maxRep, int maxTk, int maxD) {
      int B = 1 + rng.nextInt(3);
      int Hkv = 1 + rng.nextInt(3);
      int H = Hkv * (1 + rng.nextInt(maxRep));
      int Tk = Tq + rng.nextInt(maxTk - Tq + 1);
      int D = 1 + rng.nextInt(maxD);
      Tensor keyMask = null;
      if (rng.nextInt(4) != 0) {
        double[] km = new double[B * Tk];
        int filled = rng.nextInt(Tk + 1); // a KV cache's filled prefix
        for (int i = 0; i < km.length; i++) {
          km[i] = i % Tk < filled && rng.nextInt(6) != 0 ? 1 : 0; // padding holes too
        }
        keyMask = Tensor.of(DType.FLOAT32, km, B, Tk);
      }
      return new Inputs(Tensor.normal(rng, DType.FLOAT32, 0, 1, B, H, Tq, D),
          Tensor.normal(rng, DType.FLOAT32, 0, 1, B, Hkv, Tk, D),
          Tensor.normal(rng, DType.FLOAT32, 0, 2, B, Hkv, Tk, D), keyMask, rng.nextBoolean(),
          rng.nextInt(Tk - Tq + 1));
    }

    double scale() {
      return 1 / Math.sqrt(q.dim(3));
    }

    /** {out, p} from the fused kernel itself, whatever Tq. */
    Tensor[] fused() {
      Backend be = Backends.current();
      Tensor p = Tensor.empty(DType.FLOAT32, q.dim(0), q.dim(1), q.dim(2), k.dim(2));
      Tensor out = Tensor.empty(DType.FLOAT32, q.shape());
      FusedKernels.attention((Buf.F32) be.buffer(q), (Buf.F32) be.buffer(k),
          (Buf.F32) be.buffer(v), scale(), keyMask == null ? null : (Buf.F32) be.buffer(keyMask),
          causal, offset, q.dim(0), q.dim(1), k.dim(1), q.dim(2), k.dim(2), q.dim(3),
          (Buf.F32) be.buffer(p), (Buf.F32) be.buffer(out));
      return new Tensor[] {out, p};
    }

    /** {out, p}: Q Kᵀ, the masked softmax and P V as separate calls, as attention did before. */
    Tensor[] composed() {
      int groups = k.dim(0) * k.dim(1);
      int rows = q.dim(1) / k.dim(1) * q.dim(2);
      int Tk = k.dim(2);
      int D = q.dim(3);
      Tensor s = q.reshape(groups, rows, D).matmul(k.reshape(groups, Tk, D), false, true);
      Tensor p = Fused.attentionSoftmax(s.reshape(q.dim(0), q.dim(1), q.dim(2), Tk), scale(),
          keyMask, causal, offset, true);
      Tensor out = p.reshape(groups, rows, Tk).matmul(v.reshape(groups, Tk, D));
      return new Tensor[] {out.reshape(q.shape()), p};
    }

    /** {out, p} in float64 loops (the reference backend's). */
    Tensor[] reference() {
      BackendConformanceTest.Side ref =
          new BackendConformanceTest.Side(new ReferenceBackend());
      DType f64 = DType.FLOAT64;
      Tensor p = ref.empty(f64, q.dim(0), q.dim(1), q.dim(2), k.dim(2));
      Tensor out = ref.empty(f64, q.shape());
      ref.be.attention(ref.of(f64, q.toDoubleArray(), q.shape()),
          ref.of(f64, k.toDoubleArray(), k.shape()), ref.of(f64, v.toDoubleArray(), v.shape()),
          scale(), keyMask == null ? null : ref.of(f64, keyMask.toDoubleArray(), keyMask.shape()),
          causal, offset, p, out);
      return new Tensor[] {Tensor.of(f64, ref.be.toDoubles(out), out.shape()),
          Tensor.of(f64, ref.be.toDoubles(p), p.shape())};
    }
  }

  @Test
  void anyShapeMatchesTheFloat64Reference() {
    qt().withFixedSeed(3L).withExamples(300).forAll(longRange(0, 1_000_000)).checkAssert(seed -> {
      Rng rng = new Rng(seed);
      int Tq = rng.nextBoolean() ? 1 : 1 + rng.nextInt(6);
      Inputs in = Inputs.random(rng, Tq, 4, 40, seed % 4 == 0 ? 70 : 9);
      Tensor[] got = in.fused();
      Tensor[] want = in.reference();
      for (int i = 0; i < 2; i++) {
        double[] g = got[i].toDoubleArray();
        double[] w = want[i].toDoubleArray();
        for (int j = 0; j < g.length; j++) {
          assertThat(g[j]).as("%s[%d], seed %d", i == 0 ? "out" : "p", j, seed)
              .isCloseTo(w[j], org.assertj.core.data.Offset.offset(2e-5 * (1 + Math.abs(w[j]))));
        }
      }
    });
  }

  @Test
  void hiddenKeysGetZeroAndAQueryThatSeesNoneAnOutputOfZero() {
    Rng rng = new Rng(4);
    Tensor q = Tensor.normal(rng, DType.FLOAT32, 0, 1, 2, 2, 1, 5);
    Tensor k = Tensor.normal(rng, DType.FLOAT32, 0, 1, 2, 2, 6, 5);
    Tensor v = Tensor.normal(rng, DType.FLOAT32, 0, 1, 2, 2, 6, 5);
    Tensor mask = Tensor.of(DType.FLOAT32, new double[] {1, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0}, 2, 6);
    Tensor[] op = Fused.attention(q, k, v, 0.5, mask, false, 5);
    double[] p = op[1].toDoubleArray();
    for (int h = 0; h < 2; h++) {
      assertThat(p[h * 6 + 1]).isZero();
      assertThat(p[h * 6 + 4]).isZero();
      assertThat(p[h * 6 + 5]).isZero();
      assertThat(p[h * 6] + p[h * 6 + 2] + p[h * 6 + 3]).isCloseTo(1, org.assertj.core.data.Offset.offset(1e-6));
    }
    double[] second = op[0].slice(0, 1, 2).toDoubleArray(); // batch row 1 sees no key
    assertThat(second).containsOnly(0.0);
  }

  @Test
  void vectorLanesGiveTheScalarLoopsBits() {
    qt().withFixedSeed(5L).withExamples(150).forAll(longRange(0, 1_000_000)).checkAssert(seed -> {
      Rng rng = new Rng(seed);
      Inputs in = Inputs.random(rng, 1 + rng.nextInt(3), 3, 70, 70);
      Tensor[] vector = in.fused();
      boolean was = VectorSupport.active;
      VectorSupport.active = false;
      Tensor[] scalar;
      try {
        scalar = in.fused();
      } finally {
        VectorSupport.active = was;
      }
      for (int i = 0; i < 2; i++) {
        assertThat(vector[i].toFloatArray()).as("seed %d", seed)
            .containsExactly(scalar[i].toFloatArray());
      }
    });
  }

  @Test
  void decodeStepIsBitIdenticalToTheComposedProducts() {
    Assumptions.assumeTrue(openBlasSumsOneRowProductsInOrder(),
        "this OpenBLAS does not sum a one-row product as one fused multiply-add chain");
    qt().withFixedSeed(6L).withExamples(300).forAll(longRange(0, 1_000_000)).checkAssert(seed -> {
      Rng rng = new Rng(seed);
      // one query per row; up to 3 query heads per key head and inner sizes up to 320 (where
      // OpenBLAS's Haswell kernels chain; FusedKernels.attention)
      Inputs in = Inputs.random(rng, 1, 3, seed % 5 == 0 ? 320 : 40, seed % 3 == 0 ? 128 : 40);
      Tensor[] fused = Fused.attention(in.q, in.k, in.v, in.scale(), in.keyMask, in.causal,
          in.offset);
      Tensor[] composed = in.composed();
      assertThat(fused[1].toFloatArray()).as("p, seed %d", seed)
          .containsExactly(composed[1].toFloatArray());
      assertThat(fused[0].toFloatArray()).as("out, seed %d", seed)
          .containsExactly(composed[0].toFloatArray());
    });
  }

  /**
   * Whether OpenBLAS's float32 products of 1-3 rows equal fused multiply-add chains over the inner
   * axis, in both forms attention uses (Q Kᵀ with K transposed, P V plain), on a grid of the
   * sizes the test draws: where they do not, the composed form sums in another order and the
   * comparison would test OpenBLAS, not the kernel.
   */
  private static boolean openBlasSumsOneRowProductsInOrder() {
    Rng rng = new Rng(7);
    for (int rows = 1; rows <= 3; rows++) {
      for (int inner : new int[] {1, 7, 32, 64, 128, 320}) {
        for (int cols : new int[] {1, 17, 40, 320}) {
          for (boolean transposed : new boolean[] {false, true}) {
            Tensor a = Tensor.normal(rng, DType.FLOAT32, 0, 1, rows, inner);
            Tensor b = transposed ? Tensor.normal(rng, DType.FLOAT32, 0, 1, cols, inner)
                : Tensor.normal(rng, DType.FLOAT32, 0, 1, inner, cols);
            float[] got = a.matmul(b, false, transposed).toFloatArray();
            float[] x = a.toFloatArray();
            float[] y = b.toFloatArray();
            for (int r = 0; r < rows; r++) {
              for (int n = 0; n < cols; n++) {
                float acc = 0f;
                for (int i = 0; i < inner; i++) {
                  acc = Math.fma(x[r * inner + i], y[transposed ? n * inner + i : i * cols + n],
                      acc);
                }
                if (Float.floatToRawIntBits(acc) != Float.floatToRawIntBits(got[r * cols + n])) {
                  return false;
                }
              }
            }
          }
        }
      }
    }
    return true;
  }

  @Test
  void badShapesGiveOneLine() {
    Tensor q = Tensor.zeros(DType.FLOAT32, 1, 2, 1, 4);
    Tensor k = Tensor.zeros(DType.FLOAT32, 1, 2, 3, 4);
    assertThatThrownBy(() -> Fused.attention(q, k, Tensor.zeros(DType.FLOAT32, 1, 2, 3, 5), 1,
        null, false, 2)).hasMessageContaining("attention: expected q (B, H, Tq, D)");
    assertThatThrownBy(() -> Fused.attention(q, k, k, 1, Tensor.zeros(DType.FLOAT32, 1, 4),
        false, 2)).hasMessageContaining("key mask must be (B, Tk) = [1, 3]");
    assertThatThrownBy(() -> Fused.attention(q, k, k, 1, null, false, 3))
        .hasMessageContaining("query offset 3 with 1 queries does not fit 3 keys");
  }
}
