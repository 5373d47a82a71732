package org.sdpo.tensor.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.DoubleBuffer;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.sdpo.tensor.Backend;
import org.sdpo.tensor.Backends;
import org.sdpo.tensor.Buf;
import org.sdpo.tensor.DType;
import org.sdpo.tensor.FlashAttentionKernels;
import org.sdpo.tensor.Fused;
import org.sdpo.tensor.Rng;
import org.sdpo.tensor.Tensor;

/**
 * The bf16 mode's flash attention on tensor cores (flash_tc_*), run as its CUDA source by the
 * kernel emulator (skipped where it cannot be built), on inputs already rounded to bf16, against
 * two references: the host's loops in double (within 1e-2 of each output's largest magnitude:
 * P's and dS's rounding to bf16 is the difference), and loops that round P and dS to bf16 where
 * the kernels do (within 1e-4: what is left is float accumulation and the odd rounding that falls
 * the other way). A lost key tile, row or term is off by whole units. Shapes span several tiles
 * with ragged ends, grouped queries, a query offset, masks with holes, and queries that see no
 * key; the two orders of resuming threads give the same bits.
 */
class TensorCoreFlashTest {
  /** B, H, Hkv, Tq, Tk, D, causal, queryOffset, and which mask (0 none, 1 padding, 2 holes). */
  private static final int[][] SHAPES = {
    {2, 4, 2, 100, 100, 64, 1, 0, 1},
    {1, 2, 1, 37, 130, 48, 1, 93, 2},
    {2, 3, 3, 70, 70, 16, 0, 0, 2},
    {1, 2, 2, 65, 65, 32, 1, 0, 0},
    {1, 4, 1, 20, 90, 32, 0, 0, 2},
  };

  @ParameterizedTest
  @ValueSource(ints = {0, 1, 2, 3, 4})
  void matchesTheHostLoopsOnBf16Inputs(int shape) {
    int[] s = SHAPES[shape];
    Inputs in = inputs(s, shape);
    double[][] got = run(EmulatorLibrary.emulator(KernelEmulator.Order.FORWARD), s, in);
    assertClose(got, reference(s, in), 1e-2, s);
    assertClose(got, roundedReference(s, in), 1e-4, s);
  }

  private static void assertClose(double[][] got, double[][] want, double tolerance, int[] s) {
    String[] names = {"out", "lse", "dq", "dk", "dv"};
    for (int i = 0; i < names.length; i++) {
      double max = 0;
      double err = 0;
      for (int j = 0; j < want[i].length; j++) {
        if (want[i][j] == Double.NEGATIVE_INFINITY) {
          assertThat(got[i][j]).as("%s[%d] of a query that sees no key", names[i], j)
              .isEqualTo(Double.NEGATIVE_INFINITY);
          continue;
        }
        max = Math.max(max, Math.abs(want[i][j]));
        err = Math.max(err, Math.abs(got[i][j] - want[i][j]));
      }
      assertThat(err).as("%s: worst error of largest %s, shape %s", names[i], max,
          Arrays.toString(s)).isLessThanOrEqualTo(tolerance * max);
    }
  }

  @Test
  void theTwoOrdersGiveTheSameBits() {
    int[] s = SHAPES[1];
    Inputs in = inputs(s, 1);
    double[][] forward = run(EmulatorLibrary.emulator(KernelEmulator.Order.FORWARD), s, in);
    double[][] reverse = run(EmulatorLibrary.emulator(KernelEmulator.Order.REVERSE), s, in);
    for (int i = 0; i < forward.length; i++) {
      assertThat(reverse[i]).isEqualTo(forward[i]);
    }
  }

  /**
   * The kernels read Q, K, V, G and write out, dQ, dK, dV where a GPT-2 or Llama block has them,
   * (B, T, heads, D), with each tensor's strides: the same bits as on contiguous heads, and the
   * same launches (no copy made).
   */
  @ParameterizedTest
  @ValueSource(ints = {0, 2, 3})
  void headsReadAndWrittenInPlaceGiveTheSameBits(int shape) {
    int[] s = SHAPES[shape];
    Inputs in = inputs(s, shape);
    KernelEmulator e = EmulatorLibrary.emulator(KernelEmulator.Order.FORWARD);
    double[][] dense = run(new FakeDevice(null, e), s, in, false);
    double[][] inPlace = run(new FakeDevice(null, e), s, in, true);
    String[] names = {"out", "lse", "dq", "dk", "dv", "launches"};
    for (int i = 0; i < names.length; i++) {
      assertThat(inPlace[i]).as("%s, shape %s", names[i], Arrays.toString(s))
          .isEqualTo(dense[i]);
    }
  }

  @Test
  void onlyTheBf16ModeWithFittingHeadsTakesThem() {
    CudaBackend bf16 = new CudaBackend(new FakeDevice(), CudaBackend.Precision.BF16);
    CudaBackend fp32 = new CudaBackend(new FakeDevice(), CudaBackend.Precision.FP32);
    Backend before = Backends.current();
    try {
      Backends.install(bf16);
      assertThat(bf16.tensorCoreFlash(Tensor.zeros(DType.FLOAT32, 1, 2, 8, 64))).isTrue();
      assertThat(bf16.tensorCoreFlash(Tensor.zeros(DType.FLOAT32, 1, 2, 8, 40))).isFalse();
      assertThat(bf16.tensorCoreFlash(Tensor.zeros(DType.FLOAT32, 1, 2, 8, 128))).isFalse();
      assertThat(bf16.tensorCoreFlash(Tensor.zeros(DType.FLOAT64, 1, 2, 8, 64))).isFalse();
      Backends.install(fp32);
      assertThat(fp32.tensorCoreFlash(Tensor.zeros(DType.FLOAT32, 1, 2, 8, 64))).isFalse();
    } finally {
      Backends.install(before);
    }
  }

  private record Inputs(double[] q, double[] k, double[] v, double[] g, double[] mask) {}

  /** Gaussian inputs already rounded to bf16 (so the kernels' staging does not change them). */
  private static Inputs inputs(int[] s, int seed) {
    int B = s[0];
    int H = s[1];
    int Hkv = s[2];
    int Tq = s[3];
    int Tk = s[4];
    int D = s[5];
    Rng rng = new Rng(100 + seed);
    double[] q = bf16Gaussians(rng, B * H * Tq * D);
    double[] k = bf16Gaussians(rng, B * Hkv * Tk * D);
    double[] v = bf16Gaussians(rng, B * Hkv * Tk * D);
    double[] g = bf16Gaussians(rng, B * H * Tq * D);
    double[] mask = null;
    if (s[8] != 0) {
      mask = new double[B * Tk];
      for (int b = 0; b < B; b++) {
        for (int j = 0; j < Tk; j++) {
          boolean kept = s[8] == 1 ? b == 0 || j < Tk - Tk / 3 : (j * 7 + b) % 5 != 0;
          mask[b * Tk + j] = kept ? 1 : 0;
        }
      }
      if (s[8] == 2 && s[6] == 0 && B > 1) { // batch row 1 sees no key at all
        Arrays.fill(mask, Tk, 2 * Tk, 0);
      }
    }
    return new Inputs(q, k, v, g, mask);
  }

  private static double[] bf16Gaussians(Rng rng, int n) {
    double[] a = new double[n];
    for (int i = 0; i < n; i++) {
      a[i] = FakeKernels.fromBf16(FakeKernels.bf16((float) rng.nextGaussian()));
    }
    return a;
  }

  private static double[][] run(KernelEmulator e, int[] s, Inputs in) {
    return run(new FakeDevice(null, e), s, in, false);
  }

  /**
   * Forward and backward on dev in the bf16 mode: {out, lse, dq, dk, dv}, each (B, heads, T, D)
   * in row-major order, and {the launches the two calls made}. {@code inPlace}: every head tensor a view, q, g, out and dq of (B, Tq, H,
   * D), k and v (dk and dv) the two halves of (B, Tk, 2 Hkv, D).
   */
  private static double[][] run(FakeDevice dev, int[] s, Inputs in, boolean inPlace) {
    Backend before = Backends.current();
    Backends.install(new CudaBackend(dev, CudaBackend.Precision.BF16));
    try {
      int[] qs = {s[0], s[1], s[3], s[5]};
      int[] ks = {s[0], s[2], s[4], s[5]};
      Tensor q = heads(in.q, qs, 1, inPlace)[0];
      double[] kv = Arrays.copyOf(in.k, 2 * in.k.length);
      System.arraycopy(in.v, 0, kv, in.k.length, in.v.length);
      Tensor[] kvh = heads(kv, ks, 2, inPlace);
      Tensor g = heads(in.g, qs, 1, inPlace)[0];
      Tensor m = in.mask == null ? null : Tensor.of(DType.FLOAT32, in.mask, s[0], s[4]);
      double scale = 1 / Math.sqrt(s[5]);
      Tensor out = heads(new double[in.q.length], qs, 1, inPlace)[0];
      Tensor dq = heads(new double[in.q.length], qs, 1, inPlace)[0];
      Tensor[] dkv = heads(new double[kv.length], ks, 2, inPlace);
      long launches = dev.launches();
      Tensor lse = Fused.flashAttention(q, kvh[0], kvh[1], scale, m, s[6] != 0, s[7], out);
      Fused.flashAttentionBackward(q, kvh[0], kvh[1], out, lse, g, scale, m, s[6] != 0, s[7],
          dq, dkv[0], dkv[1]);
      launches = dev.launches() - launches;
      return new double[][] {values(out), lse.toDoubleArray(), values(dq), values(dkv[0]),
        values(dkv[1]), {launches}};
    } finally {
      Backends.install(before);
    }
  }

  /**
   * n tensors (B, heads, T, D) whose values, in that order and row-major, are {@code values}:
   * contiguous, or views of one (B, T, n heads, D) tensor.
   */
  private static Tensor[] heads(double[] values, int[] shape, int n, boolean inPlace) {
    int B = shape[0];
    int heads = shape[1];
    int T = shape[2];
    int D = shape[3];
    Tensor[] t = new Tensor[n];
    if (!inPlace) {
      int size = B * heads * T * D;
      for (int p = 0; p < n; p++) {
        t[p] = Tensor.of(DType.FLOAT32, Arrays.copyOfRange(values, p * size, (p + 1) * size),
            shape);
      }
      return t;
    }
    double[] mem = new double[values.length]; // (B, T, n heads, D)
    for (int p = 0; p < n; p++) {
      for (int b = 0; b < B; b++) {
        for (int h = 0; h < heads; h++) {
          for (int i = 0; i < T; i++) {
            int from = (((p * B + b) * heads + h) * T + i) * D;
            int to = ((b * T + i) * n * heads + p * heads + h) * D;
            System.arraycopy(values, from, mem, to, D);
          }
        }
      }
    }
    Tensor all = Tensor.of(DType.FLOAT32, mem, B, T, n * heads, D).permute(0, 2, 1, 3);
    for (int p = 0; p < n; p++) {
      t[p] = all.slice(1, p * heads, (p + 1) * heads);
    }
    return t;
  }

  private static double[] values(Tensor t) {
    return t.contiguous().toDoubleArray();
  }

  private static double[][] reference(int[] s, Inputs in) {
    int qn = s[0] * s[1] * s[3] * s[5];
    int kn = s[0] * s[2] * s[4] * s[5];
    double[][] want = {new double[qn], new double[s[0] * s[1] * s[3]], new double[qn],
      new double[kn], new double[kn]};
    double scale = 1 / Math.sqrt(s[5]);
    Buf mask = in.mask == null ? null : host(in.mask);
    FlashAttentionKernels.forward(host(in.q), host(in.k), host(in.v), scale, mask, s[6] != 0,
        s[7], s[0], s[1], s[2], s[3], s[4], s[5], host(want[1]), host(want[0]));
    FlashAttentionKernels.backward(host(in.q), host(in.k), host(in.v), host(want[0]), null,
        host(want[1]), host(in.g), scale, mask, s[6] != 0, s[7], s[0], s[1], s[2], s[3], s[4],
        s[5], host(want[2]), host(want[3]), host(want[4]));
    return want;
  }

  private static double bf16(double x) {
    return FakeKernels.fromBf16(FakeKernels.bf16((float) x));
  }

  /**
   * Attention's forward and backward in double from the definitions, rounding to bf16 where the
   * kernels do: P before P V and Pᵀ G, dS before dS K and dSᵀ Q.
   */
  private static double[][] roundedReference(int[] s, Inputs in) {
    int B = s[0];
    int H = s[1];
    int Hkv = s[2];
    int Tq = s[3];
    int Tk = s[4];
    int D = s[5];
    double scale = 1 / Math.sqrt(D);
    double[] out = new double[B * H * Tq * D];
    double[] lse = new double[B * H * Tq];
    double[] dq = new double[out.length];
    double[] dk = new double[B * Hkv * Tk * D];
    double[] dv = new double[dk.length];
    for (int b = 0; b < B; b++) {
      for (int h = 0; h < H; h++) {
        int bh = b * H + h;
        int kh = b * Hkv + h / (H / Hkv);
        for (int i = 0; i < Tq; i++) {
          double[] sc = new double[Tk];
          double m = Double.NEGATIVE_INFINITY;
          for (int j = 0; j < Tk; j++) {
            boolean sees = (s[6] == 0 || j <= s[7] + i)
                && (in.mask == null || in.mask[b * Tk + j] != 0);
            double dot = 0;
            for (int d = 0; d < D; d++) {
              dot += in.q[(bh * Tq + i) * D + d] * in.k[(kh * Tk + j) * D + d];
            }
            sc[j] = sees ? scale * dot : Double.NEGATIVE_INFINITY;
            m = Math.max(m, sc[j]);
          }
          double l = 0;
          for (int j = 0; j < Tk; j++) {
            l += sc[j] == Double.NEGATIVE_INFINITY ? 0 : Math.exp(sc[j] - m);
          }
          lse[bh * Tq + i] = l > 0 ? m + Math.log(l) : Double.NEGATIVE_INFINITY;
          double[] p = new double[Tk];
          for (int j = 0; j < Tk; j++) {
            boolean seen = l > 0 && sc[j] != Double.NEGATIVE_INFINITY;
            p[j] = seen ? Math.exp(sc[j] - lse[bh * Tq + i]) : 0;
            for (int d = 0; d < D; d++) {
              out[(bh * Tq + i) * D + d] += bf16(p[j]) * in.v[(kh * Tk + j) * D + d];
            }
          }
          double delta = 0;
          for (int d = 0; d < D; d++) {
            delta += in.g[(bh * Tq + i) * D + d] * out[(bh * Tq + i) * D + d];
          }
          for (int j = 0; j < Tk; j++) {
            double dp = 0;
            for (int d = 0; d < D; d++) {
              dp += in.g[(bh * Tq + i) * D + d] * in.v[(kh * Tk + j) * D + d];
            }
            double ds = bf16(p[j] * (dp - delta));
            for (int d = 0; d < D; d++) {
              dq[(bh * Tq + i) * D + d] += scale * ds * in.k[(kh * Tk + j) * D + d];
              dk[(kh * Tk + j) * D + d] += scale * ds * in.q[(bh * Tq + i) * D + d];
              dv[(kh * Tk + j) * D + d] += bf16(p[j]) * in.g[(bh * Tq + i) * D + d];
            }
          }
        }
      }
    }
    return new double[][] {out, lse, dq, dk, dv};
  }

  private static Buf host(double[] a) {
    return Buf.of(DoubleBuffer.wrap(a), 0, a.length);
  }
}
