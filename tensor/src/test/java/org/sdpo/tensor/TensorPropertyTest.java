package org.sdpo.tensor;

import static org.assertj.core.api.Assertions.assertThat;
import static org.quicktheories.QuickTheory.qt;
import static org.quicktheories.generators.Generate.longRange;
import static org.quicktheories.generators.Generate.range;

import java.util.Arrays;
import org.junit.jupiter.api.Test;
import static org.assertj.core.api.Assertions.within;

/**
 * Broadcasting arithmetic and reductions against a plain-double reference on random shapes, with
 * contiguous inputs and with permuted (strided) views, so every kernel path (Java loops for the
 * common shapes, ND4J for the rest) is compared with the same definition.
 */
class TensorPropertyTest {
  private static final DType D = DType.FLOAT64;

  /** A random shape of rank 1..3 with sizes 1..4. */
  static int[] shape(Rng rng) {
    int[] s = new int[1 + rng.nextInt(3)];
    for (int i = 0; i < s.length; i++) {
      s[i] = 1 + rng.nextInt(4);
    }
    return s;
  }

  /** Some axes of s set to 1 and maybe leading axes dropped: broadcastable to s. */
  static int[] partner(Rng rng, int[] s) {
    int drop = rng.nextInt(s.length + 1);
    int[] p = Arrays.copyOfRange(s, Math.min(drop, s.length - 1), s.length);
    for (int i = 0; i < p.length; i++) {
      if (rng.nextInt(3) == 0) {
        p[i] = 1;
      }
    }
    return p;
  }

  static double at(double[] data, int[] shape, int[] outIndex) {
    int off = outIndex.length - shape.length;
    int flat = 0;
    for (int i = 0; i < shape.length; i++) {
      int idx = shape[i] == 1 ? 0 : outIndex[i + off];
      flat = flat * shape[i] + idx;
    }
    return data[flat];
  }

  static int[] unravel(int flat, int[] shape) {
    int[] idx = new int[shape.length];
    for (int d = shape.length - 1; d >= 0; d--) {
      idx[d] = flat % shape[d];
      flat /= shape[d];
    }
    return idx;
  }

  /** The tensor as given, or the same values behind a permuted view (non-contiguous). */
  static Tensor maybeStrided(Rng rng, Tensor t) {
    if (t.rank() < 2 || rng.nextBoolean()) {
      return t;
    }
    int[] s = t.shape();
    int[] swapped = s.clone();
    swapped[0] = s[1];
    swapped[1] = s[0];
    // store transposed, then view it back: same logical values, strided memory
    Tensor stored = t.transpose(0, 1).copy();
    return stored.transpose(0, 1);
  }

  @Test
  void broadcastingBinaryOpsMatchTheReference() {
    qt().withFixedSeed(11L).withExamples(300).forAll(longRange(0, 1_000_000), range(0, 5))
        .checkAssert((seed, opIndex) -> {
          Rng rng = new Rng(seed);
          int[] s = shape(rng);
          int[] p = partner(rng, s);
          boolean swap = rng.nextBoolean();
          int[] as = swap ? p : s;
          int[] bs = swap ? s : p;
          Tensor a = Tensor.normal(rng, D, 0, 1, as);
          Tensor b = Tensor.uniform(rng, D, 0.5, 2, bs);
          Tensor av = maybeStrided(rng, a);
          Tensor bv = maybeStrided(rng, b);
          Tensor out;
          switch (opIndex) {
            case 0: out = av.add(bv); break;
            case 1: out = av.sub(bv); break;
            case 2: out = av.mul(bv); break;
            case 3: out = av.div(bv); break;
            case 4: out = av.maximum(bv); break;
            default: out = av.greater(bv); break;
          }
          int[] os = Shape.broadcast("ref", as, bs);
          assertThat(out.shape()).containsExactly(os);
          double[] ad = a.toDoubleArray();
          double[] bd = b.toDoubleArray();
          double[] got = out.toDoubleArray();
          for (int i = 0; i < got.length; i++) {
            int[] idx = unravel(i, os);
            double u = at(ad, as, idx);
            double v = at(bd, bs, idx);
            double ref;
            switch (opIndex) {
              case 0: ref = u + v; break;
              case 1: ref = u - v; break;
              case 2: ref = u * v; break;
              case 3: ref = u / v; break;
              case 4: ref = Math.max(u, v); break;
              default: ref = u > v ? 1 : 0; break;
            }
            assertThat(got[i]).as("op %d, %s and %s at %s", opIndex, Arrays.toString(as),
                Arrays.toString(bs), Arrays.toString(idx)).isEqualTo(ref);
          }
        });
  }

  @Test
  void reductionsOverAnyAxesMatchTheReference() {
    qt().withFixedSeed(12L).withExamples(200).forAll(longRange(0, 1_000_000), range(0, 2))
        .checkAssert((seed, opIndex) -> {
          Rng rng = new Rng(seed);
          int[] s = shape(rng);
          int mask = 1 + rng.nextInt((1 << s.length) - 1);
          int[] axes = java.util.stream.IntStream.range(0, s.length)
              .filter(i -> (mask & (1 << i)) != 0).toArray();
          Tensor x = Tensor.normal(rng, D, 0, 1, s);
          Tensor xv = maybeStrided(rng, x);
          Tensor out = opIndex == 0 ? xv.sum(true, axes)
              : opIndex == 1 ? xv.mean(true, axes) : xv.max(true, axes);
          int[] rs = Shape.reduced(s, axes, true);
          assertThat(out.shape()).containsExactly(rs);
          double[] xd = x.toDoubleArray();
          double[] ref = new double[(int) Shape.numel(rs)];
          int[] count = new int[ref.length];
          Arrays.fill(ref, opIndex == 2 ? Double.NEGATIVE_INFINITY : 0);
          for (int i = 0; i < xd.length; i++) {
            int[] idx = unravel(i, s);
            for (int ax : axes) {
              idx[ax] = 0;
            }
            int flat = 0;
            for (int d = 0; d < rs.length; d++) {
              flat = flat * rs[d] + idx[d];
            }
            ref[flat] = opIndex == 2 ? Math.max(ref[flat], xd[i]) : ref[flat] + xd[i];
            count[flat]++;
          }
          double[] got = out.toDoubleArray();
          for (int i = 0; i < ref.length; i++) {
            double r = opIndex == 1 ? ref[i] / count[i] : ref[i];
            assertThat(got[i]).as("op %d over %s of %s", opIndex, Arrays.toString(axes),
                Arrays.toString(s)).isCloseTo(r, org.assertj.core.api.Assertions.within(1e-12));
          }
        });
  }

  @Test
  void unaryOpsOnStridedViewsMatchContiguousOnes() {
    qt().withFixedSeed(13L).withExamples(50).forAll(longRange(0, 1_000_000))
        .checkAssert(seed -> {
          Rng rng = new Rng(seed);
          Tensor x = Tensor.uniform(rng, D, 0.1, 3, 3, 4);
          Tensor v = x.transpose(0, 1);
          assertThat(v.exp().toDoubleArray()).containsExactly(x.exp().transpose(0, 1).copy()
              .toDoubleArray());
          assertThat(v.softmax().toDoubleArray()).containsExactly(
              v.copy().softmax().toDoubleArray());
        });
  }

  @Test
  void largeLoopsSplitAcrossThreadsGiveIdenticalResults() {
    // above the parallel grain: the same values as computed element by element
    Tensor x = Tensor.normal(new Rng(5), DType.FLOAT32, 0, 1, 512, 256);
    float[] xs = x.toFloatArray();
    float[] t = x.tanh().toFloatArray();
    float[] sq = x.abs().sqrt().toFloatArray();
    float[] rows = x.sum(false, 1).toFloatArray();
    for (int i = 0; i < xs.length; i += 997) {
      assertThat(sq[i]).isEqualTo((float) Math.sqrt(Math.abs(xs[i])));
      assertThat((double) t[i]).isCloseTo(Math.tanh(xs[i]), within(1e-6));
    }
    for (int r = 0; r < 512; r += 37) {
      double acc = 0;
      for (int j = 0; j < 256; j++) {
        acc += xs[r * 256 + j];
      }
      assertThat(rows[r]).isEqualTo((float) acc);
    }
  }

  /**
   * tanh of a large float tensor is the correctly rounded value, small inputs included: ND4J's
   * float tanh (once taken from 2048 elements on) gave 0 for tanh(-1.5e-8), its error absolute.
   */
  @Test
  void tanhOfALargeTensorIsAccurateNearZero() {
    Rng rng = new Rng(9);
    Tensor x = Tensor.normal(rng, DType.FLOAT32, 0, 1, 64, 128);
    float[] xs = x.toFloatArray();
    for (int i = 0; i < xs.length; i++) { // magnitudes from 1e-9 to 10
      xs[i] = (float) (xs[i] * Math.pow(10, (i % 11) - 9));
    }
    float[] t = Tensor.of(DType.FLOAT32, xs, 64, 128).tanh().toFloatArray();
    for (int i = 0; i < xs.length; i++) {
      assertThat(t[i]).as("tanh(%s)", xs[i]).isEqualTo((float) Math.tanh(xs[i]));
    }
  }
}
