package org.sdpo.tensor;

import static org.assertj.core.api.Assertions.assertThat;
import static org.quicktheories.QuickTheory.qt;
import static org.quicktheories.generators.Generate.longRange;

import java.util.Arrays;
import java.util.List;
import java.util.function.Consumer;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/**
 * Every {@link Backend} method of the backend in use (ND4J on the CPU; other modules run
 * {@link #conformance} on theirs) against
 * {@link ReferenceBackend}, on random shapes of rank 1 to 3 with sizes 1 to 5 (so size-1 axes,
 * broadcasting and sizes that are not multiples of a vector length all occur), in float64 and
 * float32, with contiguous inputs, permuted (strided) views and windows at an offset of larger
 * tensors, and outputs that are sometimes such windows (whose surroundings must stay untouched).
 * Each backend gets the same values; the outputs must agree to 1e-12 (float64) or 2e-6
 * (float32) of their largest magnitude.
 */
public class BackendConformanceTest {
  static final Backend REF = new ReferenceBackend();
  static final double WINDOW_FILL = 1e3;

  /** One case: the same inputs on both backends, a call, and the outputs to compare. */
  interface Case {
    void run(Rng rng, DType dt, Side cpu, Side ref);
  }

  /** The tensors of one backend. */
  static final class Side {
    final Backend be;
    Tensor[] outs;

    Side(Backend be) {
      this.be = be;
    }

    Tensor of(DType dt, double[] data, int... shape) {
      return new Tensor(be.fromDoubles(data, dt, shape), shape, dt, null);
    }

    Tensor empty(DType dt, int... shape) {
      return new Tensor(be.allocate(dt, shape), shape, dt, null);
    }

    /** A view of {@code t} (shape s permuted by axes) holding the same values as {@code data}. */
    Tensor strided(DType dt, double[] data, int[] shape, int[] axes) {
      int[] inv = new int[axes.length];
      int[] stored = new int[axes.length];
      for (int i = 0; i < axes.length; i++) {
        inv[axes[i]] = i;
        stored[axes[i]] = shape[i];
      }
      // store the permuted-back layout, then view it permuted: the view reads as data
      double[] back = new double[data.length];
      for (int i = 0; i < data.length; i++) {
        int[] idx = ReferenceBackend.unravel(i, shape);
        int[] sidx = new int[idx.length];
        for (int d = 0; d < idx.length; d++) {
          sidx[axes[d]] = idx[d];
        }
        int o = 0;
        for (int d = 0; d < sidx.length; d++) {
          o = o * stored[d] + sidx[d];
        }
        back[o] = data[i];
      }
      Tensor base = of(dt, back, stored);
      return new Tensor(be.permute(base, axes), shape, dt, null);
    }

    /**
     * {@code data} (shape s) as a window of a larger tensor: {@code before} and {@code after}
     * more slabs along the first axis, holding other values, so the view starts at an offset.
     */
    Tensor window(DType dt, double[] data, int[] shape, int before, int after) {
      int slab = data.length / shape[0];
      int[] big = shape.clone();
      big[0] += before + after;
      double[] all = new double[slab * big[0]];
      java.util.Arrays.fill(all, WINDOW_FILL); // a value no result should contain
      System.arraycopy(data, 0, all, before * slab, data.length);
      return windowOf(of(dt, all, big), before, shape);
    }

    /** The view of {@code base} from {@code before} along its first axis, of the given shape. */
    Tensor windowOf(Tensor base, int before, int[] shape) {
      return new Tensor(be.slice(base, 0, before, before + shape[0]), shape, base.dtype(), null);
    }

    void out(Tensor... t) {
      outs = t;
    }
  }

  static int[] shape(Rng rng, int minRank) {
    int[] s = new int[minRank + rng.nextInt(4 - minRank)];
    for (int i = 0; i < s.length; i++) {
      s[i] = 1 + rng.nextInt(5);
    }
    return s;
  }

  static double[] values(Rng rng, int n, double scale) {
    double[] d = new double[n];
    for (int i = 0; i < n; i++) {
      d[i] = rng.nextGaussian() * scale;
    }
    return d;
  }

  /**
   * Values for top-K: mostly distinct, with ties (a few repeated values), infinities, NaNs and
   * both zeros mixed in; distinct as the dtype stores them only where the Gaussians are.
   */
  static double[] topKValues(Rng rng, int n, DType dt) {
    double[] special = {Double.NEGATIVE_INFINITY, Double.POSITIVE_INFINITY, Double.NaN, 0.0,
        -0.0, 1.5, -1.5};
    double[] d = values(rng, n, 3);
    int mix = rng.nextInt(3);
    for (int i = 0; i < n; i++) {
      if (mix > 0 && rng.nextInt(mix == 1 ? 3 : 12) == 0) {
        d[i] = special[rng.nextInt(special.length)];
      }
    }
    return d;
  }

  static int[] permutation(Rng rng, int r) {
    int[] p = new int[r];
    for (int i = 0; i < r; i++) {
      p[i] = i;
    }
    for (int i = r - 1; i > 0; i--) {
      int j = rng.nextInt(i + 1);
      int t = p[i];
      p[i] = p[j];
      p[j] = t;
    }
    return p;
  }

  /**
   * An input on both sides: contiguous, a permuted view, or a window at an offset along the first
   * axis of a larger tensor (other values around it).
   */
  static Tensor[] input(Rng rng, DType dt, Side cpu, Side ref, double[] data, int[] shape) {
    int kind = rng.nextInt(3);
    if (kind == 1 && shape.length > 1) {
      int[] axes = permutation(rng, shape.length);
      return new Tensor[] {cpu.strided(dt, data, shape, axes), ref.strided(dt, data, shape, axes)};
    }
    if (kind == 2) {
      int before = 1 + rng.nextInt(2);
      int after = rng.nextInt(2);
      return new Tensor[] {cpu.window(dt, data, shape, before, after),
          ref.window(dt, data, shape, before, after)};
    }
    return new Tensor[] {cpu.of(dt, data, shape), ref.of(dt, data, shape)};
  }

  /** Some axes of s set to 1 and maybe leading axes dropped: broadcastable to s. */
  static int[] partner(Rng rng, int[] s) {
    int drop = rng.nextInt(s.length);
    int[] p = Arrays.copyOfRange(s, drop, s.length);
    for (int i = 0; i < p.length; i++) {
      if (rng.nextInt(3) == 0) {
        p[i] = 1;
      }
    }
    return p;
  }

  /** An activation's two backend methods. */
  record Activation(Three forward, Four backward) {}

  interface Three {
    void run(Backend be, Tensor a, Tensor b, Tensor c);
  }

  interface Four {
    void run(Backend be, Tensor a, Tensor b, Tensor c, Tensor d);
  }

  /** A backend call with inputs and one preallocated output. */
  interface Call {
    void run(Backend be, Tensor[] in, Tensor out);
  }

  /**
   * Runs {@code f} on each side with that side's member of every input pair and a fresh output
   * of {@code outShape}, which becomes the side's output.
   */
  static void call(Side cpu, Side ref, DType dt, int[] outShape, Call f, Tensor[]... pairs) {
    for (Side x : new Side[] {cpu, ref}) {
      Tensor[] in = new Tensor[pairs.length];
      for (int i = 0; i < pairs.length; i++) {
        in[i] = pairs[i][x == cpu ? 0 : 1];
      }
      // every third output shape: a window at an offset of a larger tensor, whose other values
      // must stay as they were
      boolean window = Math.floorMod(Arrays.hashCode(outShape), 3) == 0;
      if (!window) {
        Tensor o = x.empty(dt, outShape);
        f.run(x.be, in, o);
        x.out(o);
        continue;
      }
      int slab = ReferenceBackend.numel(outShape) / outShape[0];
      int[] big = outShape.clone();
      big[0] += 2;
      int n = ReferenceBackend.numel(big);
      double[] fill = new double[n];
      Arrays.fill(fill, WINDOW_FILL);
      Tensor base = x.of(dt, fill, big);
      Tensor o = x.windowOf(base, 1, outShape);
      f.run(x.be, in, o);
      x.out(o);
      for (int i : new int[] {0, slab - 1, n - slab, n - 1}) {
        assertThat(x.be.get(base, i)).as("element %d beside an output window of %s", i,
            Arrays.toString(outShape)).isEqualTo(WINDOW_FILL);
      }
    }
  }

  /**
   * Flash attention's forward and backward on random shapes with up to {@code maxB} batch rows,
   * {@code maxTk} keys and head size {@code maxD}: grouped queries, offsets, causal or not, a key
   * mask with holes (some queries see no key). Outputs: out, lse (-inf, a query that sees
   * nothing, as -1e3: the comparison's tolerance scales with the largest value), dq, dk, dv.
   * With {@code inPlace} every head tensor is a view, (B, T, heads, D) in memory as a GPT-2
   * block has them, each with strides of its own: q all of (B, Tq, H, D), g the second half of
   * (B, Tq, 2H, D), out the last third of (B, Tq, 3H, D), dq the first half of (B, Tq, 2H, D); k
   * all of (B, Tk, Hkv, D), v the middle third of (B, Tk, 3 Hkv, D), dk and dv the second and
   * first halves of (B, Tk, 2 Hkv, D). The outputs' tensors start full of garbage, which must
   * stay where no output is written.
   */
  static void flashCase(Rng rng, DType dt, Side c, Side r, int maxB, int maxTk, int maxD,
      boolean inPlace) {
    int B = 1 + rng.nextInt(maxB);
    int Hkv = 1 + rng.nextInt(2);
    int H = Hkv * (1 + rng.nextInt(3));
    int Tk = 1 + rng.nextInt(maxTk);
    int Tq = rng.nextInt(4) == 0 ? 1 : 1 + rng.nextInt(Tk);
    int D = 1 + rng.nextInt(maxD);
    int offset = rng.nextInt(Tk - Tq + 1);
    boolean causal = rng.nextBoolean();
    double[] km = keyMask(rng, B * Tk);
    boolean withMask = rng.nextBoolean();
    double scale = 1 / Math.sqrt(D);
    double[] qv = values(rng, B * H * Tq * D, 1);
    double[] kvv = values(rng, 2 * B * Hkv * Tk * D, 1); // k, then v (contiguous), or both
    double[] gv = values(rng, B * H * Tq * D, 1);
    int nq = B * H * Tq * D;
    int nk = B * Hkv * Tk * D;
    both(c, r, x -> {
      Tensor mask = withMask ? x.of(dt, km, B, Tk) : null;
      Tensor q;
      Tensor k;
      Tensor v;
      Tensor g;
      Tensor o;
      Tensor dq;
      Tensor dk;
      Tensor dv;
      Tensor[] held; // what is compared: out, dq, and dk and dv (or the tensor they are views of)
      if (inPlace) {
        q = headViews(x, x.of(dt, qv, B, Tq, H, D), 1)[0];
        k = headViews(x, x.of(dt, Arrays.copyOf(kvv, nk), B, Tk, Hkv, D), 1)[0];
        v = headViews(x, x.of(dt, values(new Rng(3), 3 * nk, 1), B, Tk, 3 * Hkv, D), 3)[1];
        g = headViews(x, x.of(dt, values(new Rng(2), 2 * nq, 1), B, Tq, 2 * H, D), 2)[1];
        Tensor y = x.of(dt, garbage(3 * nq), B, Tq, 3 * H, D);
        Tensor dy = x.of(dt, garbage(2 * nq), B, Tq, 2 * H, D);
        Tensor dkv = x.of(dt, garbage(2 * nk), B, Tk, 2 * Hkv, D);
        o = headViews(x, y, 3)[2];
        dq = headViews(x, dy, 2)[0];
        Tensor[] w = headViews(x, dkv, 2);
        dk = w[1];
        dv = w[0];
        held = new Tensor[] {y, dy, dkv};
      } else {
        q = x.of(dt, qv, B, H, Tq, D);
        k = x.of(dt, Arrays.copyOf(kvv, nk), B, Hkv, Tk, D);
        v = x.of(dt, Arrays.copyOfRange(kvv, nk, 2 * nk), B, Hkv, Tk, D);
        g = x.of(dt, gv, B, H, Tq, D);
        o = x.of(dt, values(new Rng(8), nq, 1), B, H, Tq, D); // garbage
        dq = x.of(dt, values(new Rng(6), nq, 1), B, H, Tq, D);
        dk = x.of(dt, values(new Rng(5), nk, 1), B, Hkv, Tk, D);
        dv = x.of(dt, values(new Rng(4), nk, 1), B, Hkv, Tk, D);
        held = new Tensor[] {o, dq, dk, dv};
      }
      Tensor lse = x.of(dt, values(new Rng(7), B * H * Tq, 1), B, H, Tq);
      x.be.flashAttention(q, k, v, scale, mask, causal, offset, lse, o);
      x.be.flashAttentionBackward(q, k, v, o, lse, g, scale, mask, causal, offset, dq, dk, dv);
      double[] l = x.be.toDoubles(lse);
      for (int i = 0; i < l.length; i++) {
        l[i] = l[i] == Double.NEGATIVE_INFINITY ? -1e3 : l[i];
      }
      Tensor[] outs = Arrays.copyOf(held, held.length + 1);
      outs[held.length] = x.of(DType.FLOAT64, l, B, H, Tq);
      x.out(outs);
    });
  }

  /**
   * Element i read through the host buffer;  /**
   * Element i read through the host buffer; a backend whose memory the host cannot address
   * throws UnsupportedOperationException there (as the contract allows), and is read with get.
   */
  static double viaBuffer(Backend be, Tensor t, int i) {
    try {
      return be.buffer(t).get(i);
    } catch (UnsupportedOperationException deviceMemory) {
      return be.get(t, i);
    }
  }

  /** A key mask of n entries, a quarter of them 0 (padding; some rows see no key). */
  static double[] keyMask(Rng rng, int n) {
    double[] km = new double[n];
    for (int i = 0; i < km.length; i++) {
      km[i] = rng.nextInt(4) == 0 ? 0 : 1;
    }
    return km;
  }

  /** n values that no result should hold: what an output not written keeps. */
  static double[] garbage(int n) {
    double[] g = new double[n];
    java.util.Arrays.fill(g, WINDOW_FILL);
    return g;
  }

  /**
   * t (B, T, n H, D) read as n views (B, H, T, D): the heads of each of its n parts where a
   * projection wrote them, in place.
   */
  static Tensor[] headViews(Side x, Tensor t, int n) {
    int[] s = t.shape();
    int[] ps = {s[0], s[2], s[1], s[3]};
    Tensor all = new Tensor(x.be.permute(t, new int[] {0, 2, 1, 3}), ps, t.dtype(), null);
    Tensor[] parts = new Tensor[n];
    int h = s[2] / n;
    for (int i = 0; i < n; i++) {
      parts[i] = new Tensor(x.be.slice(all, 1, i * h, (i + 1) * h),
          new int[] {s[0], h, s[1], s[3]}, t.dtype(), null);
    }
    return parts;
  }

  static void both(Side cpu, Side ref, Consumer<Side> f) {
    f.accept(cpu);
    f.accept(ref);
  }

  @TestFactory
  Iterable<DynamicTest> everyMethodMatchesTheReference() {
    return conformance(Backends.current(), 60);
  }

  /**
   * Methods of {@link Backend} that no case below names, each with what checks it instead: the
   * rest compute or move values, and a case's name must name each of them ("x and its backward"
   * names xBackward too), so a new method cannot go without a comparison with the reference.
   */
  static final java.util.Map<String, String> CHECKED_ELSEWHERE = java.util.Map.of(
      "allocate", "every case: its outputs are allocated by the backend",
      "description", "no values: a banner",
      "kernelLaunches", "no values: a count for benchmarks",
      "deviceMemory", "no values: a device pool's counts (DevicePoolTest, FakeDeviceTrainTest)",
      "resetDeviceMemoryPeaks", "no values: DevicePoolTest (tensor-cuda)",
      "canCaptureSteps", "no values: CapturedStepTest (transformer) records where it is true",
      "captureStep", "CapturedStepTest (transformer), GpuCheck's recorded steps",
      "indices", "the gather, pick and cross-entropy cases pass their ids through it",
      "prefersFlashAttention", "no values: a choice of path (AttentionPathTest)",
      "readsHeadsInPlace", "no values: a choice of path (HeadsInPlaceTest, tensor-cuda)");

  @Test
  void everyBackendMethodIsNamedByACase() {
    java.util.Set<String> names = cases().keySet();
    List<String> missing = new java.util.ArrayList<>();
    for (java.lang.reflect.Method m : Backend.class.getDeclaredMethods()) {
      String n = m.getName();
      int mod = m.getModifiers();
      if (java.lang.reflect.Modifier.isStatic(mod) || java.lang.reflect.Modifier.isPrivate(mod)
          || m.isSynthetic()
          || CHECKED_ELSEWHERE.containsKey(n)) {
        continue;
      }
      java.util.regex.Pattern word = java.util.regex.Pattern.compile("\\b" + n + "\\b");
      String base = n.endsWith("Backward") ? n.substring(0, n.length() - 8) : null;
      boolean named = names.stream().anyMatch(c -> word.matcher(c).find()
          || (base != null && c.contains(base + " and its backward")));
      if (!named && !missing.contains(n)) {
        missing.add(n);
      }
    }
    assertThat(missing).as("Backend methods no conformance case names").isEmpty();
    for (String n : CHECKED_ELSEWHERE.keySet()) {
      assertThat(Arrays.stream(Backend.class.getDeclaredMethods()).map(m -> m.getName()))
          .as("a method listed as checked elsewhere exists").contains(n);
    }
  }

  /** One dynamic test per method group: {@code under} against the reference backend. */
  public static List<DynamicTest> conformance(Backend under, int examples) {
    java.util.Map<String, Case> cases = cases();
    DType[] dtypes = {DType.FLOAT64, DType.FLOAT32};
    return cases.entrySet().stream().map(e -> DynamicTest.dynamicTest(e.getKey(), () ->
        qt().withFixedSeed(11L).withExamples(examples).forAll(longRange(0, 1_000_000))
            .checkAssert(seed -> {
              for (DType dt : dtypes) {
                Side c = new Side(under);
                Side r = new Side(REF);
                e.getValue().run(new Rng(seed), dt, c, r);
                compare(e.getKey() + " " + dt + " seed " + seed, dt, under, c.outs, r.outs);
              }
            }))).toList();
  }

  /** The cases, by name: each names the methods it compares. */
  static java.util.Map<String, Case> cases() {
    java.util.Map<String, Case> cases = new java.util.LinkedHashMap<>();
    cases.put("fromDoubles+toDoubles, fromFloats+toFloats", (rng, dt, c, r) -> {
      int[] s = shape(rng, 1);
      double[] d = values(rng, ReferenceBackend.numel(s), 3);
      float[] f = new float[d.length];
      for (int i = 0; i < f.length; i++) {
        f[i] = (float) d[i];
      }
      both(c, r, x -> {
        Tensor fromFloats = new Tensor(x.be.fromFloats(f, dt, s), s, dt, null);
        float[] back = x.be.toFloats(fromFloats);
        double[] wide = new double[back.length];
        for (int i = 0; i < back.length; i++) {
          wide[i] = back[i];
        }
        x.out(x.of(dt, d, s), x.of(DType.FLOAT64, wide, s));
      });
    });
    cases.put("assign (broadcast, convert)", (rng, dt, c, r) -> {
      int[] s = shape(rng, 1);
      int[] p = partner(rng, s);
      DType other = rng.nextBoolean() ? DType.FLOAT64 : DType.FLOAT32;
      double[] d = values(rng, ReferenceBackend.numel(p), 2);
      call(c, r, dt, s, (be, in, o) -> be.assign(in[0], o), input(rng, other, c, r, d, p));
    });
    cases.put("write+read (a range)", (rng, dt, c, r) -> {
      int[] s = shape(rng, 1);
      int n = ReferenceBackend.numel(s);
      double[] d = values(rng, n, 3);
      int start = rng.nextInt(n);
      int count = rng.nextInt(n - start + 1);
      double[] w = values(rng, count + 2, 3);
      both(c, r, x -> {
        Tensor t = x.of(dt, d, s);
        x.be.write(t, start, w, count);
        double[] back = new double[count + 1];
        x.be.read(t, start, back, count);
        x.out(t, x.of(DType.FLOAT64, back, count + 1));
      });
    });
    cases.put("fill", (rng, dt, c, r) -> {
      int[] s = shape(rng, 1);
      double v = rng.nextGaussian();
      both(c, r, x -> {
        Tensor o = x.empty(dt, s);
        x.be.fill(o, v);
        x.out(o);
      });
    });
    cases.put("fill over a list of tensors (a model's gradients zeroed)", (rng, dt, c, r) -> {
      int count = 1 + rng.nextInt(5);
      int[] sizes = new int[count];
      for (int t = 0; t < count; t++) { // some past the CUDA kernel's 4,096-element chunks
        sizes[t] = 1 + rng.nextInt(rng.nextBoolean() ? 30 : 9000);
      }
      double v = rng.nextBoolean() ? 0 : rng.nextGaussian();
      both(c, r, x -> {
        List<Tensor> ts = new java.util.ArrayList<>();
        for (int n : sizes) {
          ts.add(x.of(dt, values(new Rng(n), n, 1), n)); // values to be overwritten
        }
        x.be.fill(ts, v);
        x.out(ts.toArray(new Tensor[0]));
      });
    });
    for (Backend.BinaryOp op : Backend.BinaryOp.values()) {
      cases.put("binary " + op, (rng, dt, c, r) -> {
        int[] s = shape(rng, 1);
        int[] p = partner(rng, s);
        boolean swap = rng.nextBoolean();
        double[] da = values(rng, ReferenceBackend.numel(swap ? p : s), 2);
        double[] db = values(rng, ReferenceBackend.numel(swap ? s : p), 2);
        if (op == Backend.BinaryOp.DIV) {
          for (int i = 0; i < db.length; i++) {
            db[i] = Math.copySign(0.5 + Math.abs(db[i]), db[i]);
          }
        }
        call(c, r, dt, s, (be, in, o) -> be.binary(op, in[0], in[1], o),
            input(rng, dt, c, r, da, swap ? p : s), input(rng, dt, c, r, db, swap ? s : p));
      });
    }
    for (Backend.UnaryOp op : Backend.UnaryOp.values()) {
      cases.put("unary " + op, (rng, dt, c, r) -> {
        int[] s = shape(rng, 1);
        double[] d = values(rng, ReferenceBackend.numel(s), 2);
        if (op == Backend.UnaryOp.LOG || op == Backend.UnaryOp.SQRT
            || op == Backend.UnaryOp.RECIPROCAL) {
          for (int i = 0; i < d.length; i++) {
            d[i] = 0.25 + Math.abs(d[i]);
          }
        }
        call(c, r, dt, s, (be, in, o) -> be.unary(op, in[0], o), input(rng, dt, c, r, d, s));
      });
    }
    // tanh's error relative near 0, where ND4J's float tanh (large tensors once took it) is 0 for
    // |x| < 3e-8 and 1 - exp(-2|x|) cancels: 2560 values of 1e-12 to 1e-2, scaled back up to 1
    cases.put("unary TANH near zero, relative (then scalar MUL)", (rng, dt, c, r) -> {
      int[] s = {64, 40};
      double[] d = values(rng, ReferenceBackend.numel(s), 2);
      double[] scale = {1e12, 1e9, 1e6, 1e2};
      double k = scale[rng.nextInt(scale.length)];
      for (int i = 0; i < d.length; i++) {
        d[i] /= k;
      }
      call(c, r, dt, s, (be, in, o) -> {
        be.unary(Backend.UnaryOp.TANH, in[0], o);
        be.scalar(Backend.ScalarOp.MUL, o, k, o);
      }, input(rng, dt, c, r, d, s));
    });
    for (Backend.ScalarOp op : Backend.ScalarOp.values()) {
      cases.put("scalar " + op, (rng, dt, c, r) -> {
        int[] s = shape(rng, 1);
        double[] d = values(rng, ReferenceBackend.numel(s), 2);
        if (op == Backend.ScalarOp.POW || op == Backend.ScalarOp.RDIV) {
          for (int i = 0; i < d.length; i++) {
            d[i] = 0.25 + Math.abs(d[i]);
          }
        }
        double k = op == Backend.ScalarOp.POW ? 0.5 * rng.nextInt(6) - 1 : rng.nextGaussian();
        call(c, r, dt, s, (be, in, o) -> be.scalar(op, in[0], k, o), input(rng, dt, c, r, d, s));
      });
    }
    cases.put("axpy", (rng, dt, c, r) -> {
      int[] s = shape(rng, 1);
      double[] dx = values(rng, ReferenceBackend.numel(s), 2);
      double[] dy = values(rng, ReferenceBackend.numel(s), 2);
      double alpha = rng.nextGaussian();
      both(c, r, x -> {
        Tensor y = x.of(dt, dy, s);
        x.be.axpy(alpha, x.of(dt, dx, s), y);
        x.out(y);
      });
    });
    cases.put("matmul", (rng, dt, c, r) -> {
      boolean batched = rng.nextBoolean();
      int bt = 1 + rng.nextInt(3);
      int m = 1 + rng.nextInt(5);
      int k = 1 + rng.nextInt(5);
      int n = 1 + rng.nextInt(5);
      boolean ta = rng.nextBoolean();
      boolean tb = rng.nextBoolean();
      int[] as = batched ? new int[] {bt, ta ? k : m, ta ? m : k} : new int[] {ta ? k : m, ta ? m : k};
      int[] bs = batched ? new int[] {bt, tb ? n : k, tb ? k : n} : new int[] {tb ? n : k, tb ? k : n};
      int[] os = batched ? new int[] {bt, m, n} : new int[] {m, n};
      double[] da = values(rng, ReferenceBackend.numel(as), 1);
      double[] db = values(rng, ReferenceBackend.numel(bs), 1);
      // contiguous or permuted (strided) operands: a transposed view is a column-major matrix
      call(c, r, dt, os, (be, in, o) -> be.matmul(in[0], in[1], o, ta, tb),
          input(rng, dt, c, r, da, as), input(rng, dt, c, r, db, bs));
    });
    cases.put("linear", (rng, dt, c, r) -> {
      int n = 1 + rng.nextInt(7);
      int k = 1 + rng.nextInt(6);
      int m = 1 + rng.nextInt(rng.nextBoolean() ? 6 : 40);
      double[] dx = values(rng, n * k, 1);
      double[] dw = values(rng, k * m, 1);
      double[] db = values(rng, m, 2);
      boolean tw = rng.nextBoolean(); // w stored (M, K), PyTorch's nn.Linear layout
      int[] ws = tw ? new int[] {m, k} : new int[] {k, m};
      // x and w contiguous, permuted (a transposed view) or windows; the bias maybe a window
      call(c, r, dt, new int[] {n, m}, (be, in, o) -> be.linear(in[0], in[1], tw, in[2], o),
          input(rng, dt, c, r, dx, new int[] {n, k}), input(rng, dt, c, r, dw, ws),
          input(rng, dt, c, r, db, new int[] {m}));
    });
    for (Backend.ReduceOp op : Backend.ReduceOp.values()) {
      cases.put("reduce " + op, (rng, dt, c, r) -> {
        int[] s = shape(rng, 1);
        java.util.List<Integer> ax = new java.util.ArrayList<>();
        for (int i = 0; i < s.length; i++) {
          if (rng.nextBoolean()) {
            ax.add(i);
          }
        }
        if (ax.isEmpty()) {
          ax.add(rng.nextInt(s.length));
        }
        int[] axes = ax.stream().mapToInt(Integer::intValue).toArray();
        int[] os = s.clone();
        for (int a : axes) {
          os[a] = 1;
        }
        double[] d = values(rng, ReferenceBackend.numel(s), 2);
        call(c, r, dt, os, (be, in, o) -> be.reduce(op, in[0], axes, o), input(rng, dt, c, r, d, s));
      });
    }
    cases.put("softmax", (rng, dt, c, r) -> {
      int[] s = shape(rng, 1);
      double[] d = values(rng, ReferenceBackend.numel(s), 4);
      both(c, r, x -> {
        Tensor o = x.empty(dt, s);
        x.be.softmax(x.of(dt, d, s), o);
        x.out(o);
      });
    });
    cases.put("logSoftmax", (rng, dt, c, r) -> {
      int[] s = shape(rng, 1);
      // spreads up to 60: exp of the row's smallest would underflow without the max taken out
      double[] d = values(rng, ReferenceBackend.numel(s), rng.nextBoolean() ? 4 : 60);
      both(c, r, x -> {
        Tensor o = x.empty(dt, s);
        x.be.logSoftmax(x.of(dt, d, s), o);
        x.out(o);
      });
    });
    cases.put("logSoftmax over long rows (a vocabulary), some entries -inf", (rng, dt, c, r) -> {
      int K = 1 + rng.nextInt(3000);
      int[] s = {1 + rng.nextInt(3), K};
      double[] d = values(rng, ReferenceBackend.numel(s), 20);
      for (int i = 0; i < d.length; i++) {
        if (i % K != 0 && rng.nextInt(20) == 0) {
          d[i] = Double.NEGATIVE_INFINITY; // masked out: probability 0, log-probability -inf
        }
      }
      both(c, r, x -> {
        Tensor o = x.empty(dt, s);
        x.be.logSoftmax(x.of(dt, d, s), o);
        x.out(o);
      });
    });
    cases.put("where", (rng, dt, c, r) -> {
      int[] s = shape(rng, 1);
      int n = ReferenceBackend.numel(s);
      double[] cond = new double[n];
      for (int i = 0; i < n; i++) {
        cond[i] = rng.nextBoolean() ? 1 : 0;
      }
      double[] da = values(rng, n, 2);
      double[] db = values(rng, n, 2);
      both(c, r, x -> {
        Tensor o = x.empty(dt, s);
        x.be.where(x.of(dt, cond, s), x.of(dt, da, s), x.of(dt, db, s), o);
        x.out(o);
      });
    });
    cases.put("concat", (rng, dt, c, r) -> {
      int[] s = shape(rng, 1);
      int axis = rng.nextInt(s.length);
      int parts = 1 + rng.nextInt(3);
      int[][] shapes = new int[parts][];
      double[][] data = new double[parts][];
      int total = 0;
      for (int p = 0; p < parts; p++) {
        shapes[p] = s.clone();
        shapes[p][axis] = 1 + rng.nextInt(3);
        total += shapes[p][axis];
        data[p] = values(rng, ReferenceBackend.numel(shapes[p]), 2);
      }
      int[] os = s.clone();
      os[axis] = total;
      both(c, r, x -> {
        Tensor[] ts = new Tensor[parts];
        for (int p = 0; p < parts; p++) {
          ts[p] = x.of(dt, data[p], shapes[p]);
        }
        Tensor o = x.empty(dt, os);
        x.be.concat(axis, ts, o);
        x.out(o);
      });
    });
    String views = "views: reshape, permute, slice, get, set, buffer, isContiguous";
    cases.put(views, (rng, dt, c, r) -> {
      int[] s = shape(rng, 2);
      double[] d = values(rng, ReferenceBackend.numel(s), 2);
      int[] axes = permutation(rng, s.length);
      int axis = rng.nextInt(s.length);
      int start = rng.nextInt(s[axis]);
      int end = start + 1 + rng.nextInt(s[axis] - start);
      int setAt = rng.nextInt(ReferenceBackend.numel(s));
      double setTo = rng.nextGaussian();
      both(c, r, x -> {
        Tensor t = x.of(dt, d, s);
        int[] ps = new int[s.length];
        for (int i = 0; i < s.length; i++) {
          ps[i] = s[axes[i]];
        }
        Tensor p = new Tensor(x.be.permute(t, axes), ps, dt, null);
        int[] ss = s.clone();
        ss[axis] = end - start;
        Tensor sl = new Tensor(x.be.slice(t, axis, start, end), ss, dt, null);
        Tensor flat = new Tensor(x.be.reshape(t, new int[] {ReferenceBackend.numel(s)}),
            new int[] {ReferenceBackend.numel(s)}, dt, null);
        Tensor pc = x.empty(dt, ps);
        x.be.assign(p, pc);
        Tensor slc = x.empty(dt, ss);
        x.be.assign(sl, slc);
        Tensor g = x.of(dt, new double[] {x.be.get(p, setAt % ReferenceBackend.numel(ps)),
            x.be.isContiguous(p) ? 1 : 0, x.be.isContiguous(t) ? 1 : 0,
            viaBuffer(x.be, t, setAt)}, 4);
        Tensor copy = x.of(dt, d, s);
        x.be.set(copy, setAt, setTo);
        x.out(pc, slc, flat, g, copy);
      });
    });

    // activations with a saved tensor: forward (x, y, saved), backward (x, saved, g, dx)
    java.util.Map<String, Activation> activations = java.util.Map.of(
        "gelu", new Activation(Backend::gelu, Backend::geluBackward),
        "silu", new Activation(Backend::silu, Backend::siluBackward));
    // small shapes, and one of 2400 elements: the CPU backend's large-tensor paths (ND4J's exp, its
    // sigmoid and, for GELU in float32 only, its tanh, whose float64 error of 1e-10 once showed)
    activations.forEach((name, act) -> cases.put(name + " and its backward", (rng, dt, c, r) -> {
      int[] s = rng.nextInt(4) == 0 ? new int[] {48, 50} : shape(rng, 1);
      int n = ReferenceBackend.numel(s);
      double[] dx = values(rng, n, 3);
      double[] dg = values(rng, n, 1);
      both(c, r, x -> {
        Tensor in = x.of(dt, dx, s);
        Tensor y = x.empty(dt, s);
        Tensor saved = x.empty(dt, s);
        act.forward().run(x.be, in, y, saved);
        Tensor d = x.empty(dt, s);
        act.backward().run(x.be, in, saved, x.of(dt, dg, s), d);
        x.out(y, saved, d);
      });
    }));
    cases.put("rmsNorm and its backward", (rng, dt, c, r) -> {
      int[] s = shape(rng, 1);
      int C = s[s.length - 1];
      int rows = ReferenceBackend.numel(s) / C;
      double[] dx = values(rng, ReferenceBackend.numel(s), 2);
      double[] dgam = values(rng, C, 1);
      double[] dg = values(rng, ReferenceBackend.numel(s), 1);
      both(c, r, x -> {
        Tensor in = x.of(dt, dx, s);
        Tensor gam = x.of(dt, dgam, C);
        Tensor y = x.empty(dt, s);
        Tensor rstd = x.empty(DType.FLOAT64, rows);
        x.be.rmsNorm(in, gam, 1e-5, y, rstd);
        Tensor d = x.empty(dt, s);
        Tensor dgamma = x.empty(dt, C);
        x.be.rmsNormBackward(in, gam, rstd, x.of(dt, dg, s), d, dgamma);
        x.out(y, rstd, d, dgamma);
      });
    });
    cases.put("layerNorm and its backward", (rng, dt, c, r) -> {
      int[] s = shape(rng, 1);
      int C = s[s.length - 1];
      int rows = ReferenceBackend.numel(s) / C;
      double[] dx = values(rng, ReferenceBackend.numel(s), 2);
      double[] dgam = values(rng, C, 1);
      double[] dbet = values(rng, C, 1);
      double[] dg = values(rng, ReferenceBackend.numel(s), 1);
      both(c, r, x -> {
        Tensor in = x.of(dt, dx, s);
        Tensor gam = x.of(dt, dgam, C);
        Tensor y = x.empty(dt, s);
        Tensor mean = x.empty(DType.FLOAT64, rows);
        Tensor rstd = x.empty(DType.FLOAT64, rows);
        x.be.layerNorm(in, gam, x.of(dt, dbet, C), 1e-5, y, mean, rstd);
        Tensor d = x.empty(dt, s);
        Tensor dgamma = x.empty(dt, C);
        Tensor dbeta = x.empty(dt, C);
        x.be.layerNormBackward(in, gam, mean, rstd, x.of(dt, dg, s), d, dgamma, dbeta);
        x.out(y, mean, rstd, d, dgamma, dbeta);
      });
    });
    cases.put("rope, both directions", (rng, dt, c, r) -> {
      int[] s = {1 + rng.nextInt(2), 1 + rng.nextInt(3), 1 + rng.nextInt(4), 2 * (1 + rng.nextInt(3))};
      int[] cs = {s[0], s[2], s[3] / 2};
      double[] dx = values(rng, ReferenceBackend.numel(s), 2);
      double[] ang = values(rng, ReferenceBackend.numel(cs), 3);
      double[] dcos = java.util.Arrays.stream(ang).map(Math::cos).toArray();
      double[] dsin = java.util.Arrays.stream(ang).map(Math::sin).toArray();
      int sign = rng.nextBoolean() ? 1 : -1;
      both(c, r, x -> {
        Tensor y = x.empty(dt, s);
        x.be.rope(x.of(dt, dx, s), x.of(dt, dcos, cs), x.of(dt, dsin, cs), sign, y);
        x.out(y);
      });
    });

    cases.put("softmaxBackward and logSoftmaxBackward", (rng, dt, c, r) -> {
      int[] s = shape(rng, 1);
      int K = s[s.length - 1];
      int n = ReferenceBackend.numel(s);
      double[] dp = new double[n];
      for (int row = 0; row < n / K; row++) { // rows of probabilities
        double sum = 0;
        for (int j = 0; j < K; j++) {
          dp[row * K + j] = Math.exp(rng.nextGaussian());
          sum += dp[row * K + j];
        }
        for (int j = 0; j < K; j++) {
          dp[row * K + j] /= sum;
        }
      }
      double[] dg = values(rng, n, 1);
      double scale = rng.nextGaussian();
      both(c, r, x -> {
        Tensor p = x.of(dt, dp, s);
        Tensor g = x.of(dt, dg, s);
        Tensor d1 = x.empty(dt, s);
        x.be.softmaxBackward(p, g, scale, d1);
        Tensor d2 = x.empty(dt, s);
        x.be.logSoftmaxBackward(p, g, d2);
        Tensor inPlace = x.of(dt, dp, s);
        x.be.logSoftmaxBackward(inPlace, g, inPlace);
        x.out(d1, d2, inPlace);
      });
    });
    cases.put("crossEntropyLoss and crossEntropyBackward", (rng, dt, c, r) -> {
      int R = 1 + rng.nextInt(5);
      int V = 1 + rng.nextInt(6);
      int[] targets = new int[R];
      for (int i = 0; i < R; i++) {
        targets[i] = rng.nextInt(4) == 0 ? -100 : rng.nextInt(V);
      }
      double[] dl = values(rng, R * V, 2);
      double g = rng.nextGaussian();
      both(c, r, x -> {
        Tensor lp = x.of(dt, dl, R, V);
        Indices t = x.be.indices(targets);
        Tensor stats = x.empty(DType.FLOAT64, 2);
        x.be.crossEntropyLoss(lp, t, -100, stats);
        Tensor d = x.of(dt, dl, R, V);
        x.be.crossEntropyBackward(d, t, -100, x.of(dt, new double[] {g}), stats, d);
        x.out(stats, d);
      });
    });
    cases.put("log1mexp and its backward", (rng, dt, c, r) -> {
      int[] s = shape(rng, 1);
      int n = ReferenceBackend.numel(s);
      double[] dx = values(rng, n, 2);
      for (int i = 0; i < n; i++) {
        dx[i] = -0.05 - Math.abs(dx[i]); // x < 0, both sides of -ln 2
      }
      double[] dg = values(rng, n, 1);
      both(c, r, x -> {
        Tensor in = x.of(dt, dx, s);
        Tensor y = x.empty(dt, s);
        x.be.log1mexp(in, y);
        Tensor d = x.empty(dt, s);
        x.be.log1mexpBackward(in, x.of(dt, dg, s), d);
        x.out(y, d);
      });
    });
    cases.put("pickBackward", (rng, dt, c, r) -> {
      int N = 1 + rng.nextInt(5);
      int K = 1 + rng.nextInt(5);
      int[] idx = new int[N];
      for (int i = 0; i < N; i++) {
        idx[i] = rng.nextInt(K);
      }
      double[] dg = values(rng, N, 1);
      both(c, r, x -> {
        Tensor d = x.of(dt, values(new Rng(9), N * K, 1), N, K); // garbage to overwrite
        x.be.pickBackward(x.of(dt, dg, N), x.be.indices(idx), d);
        x.out(d);
      });
    });
    cases.put("topK, with pick and pickBackward of J ids a row (repeats)", (rng, dt, c, r) -> {
      boolean wide = rng.nextInt(3) == 0; // a device kernel's search over many values and passes
      int N = 1 + rng.nextInt(wide ? 3 : 5);
      int V = wide ? 200 + rng.nextInt(3000) : 1 + rng.nextInt(12);
      int K = 1 + rng.nextInt(wide && rng.nextBoolean() ? Math.min(V, 40) : V);
      double[] d = topKValues(rng, N * V, dt);
      int J = 1 + rng.nextInt(4);
      int[] idx = new int[N * J];
      for (int i = 0; i < idx.length; i++) {
        idx[i] = rng.nextInt(Math.min(V, 3)); // repeats within a row
      }
      double[] dg = values(rng, N * J, 1);
      both(c, r, x -> {
        Tensor t = x.of(dt, d, N, V);
        int[] ids = x.be.topK(t, K).values();
        double[] wideIds = new double[ids.length];
        for (int i = 0; i < ids.length; i++) {
          wideIds[i] = ids[i];
        }
        Tensor picked = x.empty(dt, N, J);
        x.be.pick(t, x.be.indices(idx), picked);
        Tensor dx = x.of(dt, values(new Rng(5), N * V, 1), N, V); // garbage to overwrite
        x.be.pickBackward(x.of(dt, dg, N, J), x.be.indices(idx), dx);
        x.out(x.of(DType.FLOAT64, wideIds, N, K), picked, dx);
      });
    });
    cases.put("blendCoefficients (clipped or not)", (rng, dt, c, r) -> {
      int N = 1 + rng.nextInt(5);
      int V = 1 + rng.nextInt(rng.nextBoolean() ? 9 : 600);
      double[] lp = values(rng, N * V, 2);
      double[] lq = values(rng, N * V, 2);
      double[] p = new double[N * V];
      for (int i = 0; i < p.length; i++) {
        p[i] = Math.exp(lp[i]);
      }
      int[] tokens = new int[N];
      double[] term = values(rng, N, 1);
      for (int t = 0; t < N; t++) {
        tokens[t] = rng.nextInt(V);
      }
      double lambda = rng.nextDouble();
      double clip = rng.nextBoolean() ? Double.POSITIVE_INFINITY : 0.1 + rng.nextDouble();
      both(c, r, x -> {
        Tensor out = x.of(dt, values(new Rng(3), N * V, 1), N, V); // garbage to overwrite
        x.be.blendCoefficients(x.of(dt, lp, N, V), x.of(dt, p, N, V), x.of(dt, lq, N, V),
            x.be.indices(tokens), x.of(DType.FLOAT64, term, N), lambda, clip, out);
        x.out(out);
      });
    });
    cases.put("dropoutMask (the same draws)", (rng, dt, c, r) -> {
      int[] s = shape(rng, 1);
      double p = rng.nextDouble() * 0.9;
      long seed = rng.nextInt(1000);
      both(c, r, x -> {
        Tensor m = x.empty(dt, s);
        x.be.dropoutMask(m, p, new Rng(seed));
        x.out(m);
      });
    });
    cases.put("attentionSoftmax", (rng, dt, c, r) -> {
      int B = 1 + rng.nextInt(2);
      int H = 1 + rng.nextInt(3);
      int Tk = 1 + rng.nextInt(6);
      int Tq = 1 + rng.nextInt(Tk);
      int offset = rng.nextInt(Tk - Tq + 1);
      boolean causal = rng.nextBoolean();
      double[] km = new double[B * Tk];
      for (int i = 0; i < km.length; i++) {
        km[i] = rng.nextInt(3) == 0 ? 0 : 1; // some queries see no key at all
      }
      boolean withMask = rng.nextBoolean();
      boolean inPlace = rng.nextBoolean();
      double scale = 0.1 + rng.nextDouble();
      double[] sv = values(rng, B * H * Tq * Tk, 3);
      both(c, r, x -> {
        Tensor s = x.of(dt, sv, B, H, Tq, Tk);
        Tensor p = inPlace ? s : x.empty(dt, B, H, Tq, Tk);
        x.be.attentionSoftmax(s, scale, withMask ? x.of(dt, km, B, Tk) : null, causal, offset,
            p);
        x.out(p);
      });
    });
    cases.put("attention (one query per row half the time: the decode step)", (rng, dt, c, r) -> {
      int B = 1 + rng.nextInt(2);
      int Hkv = 1 + rng.nextInt(2);
      int H = Hkv * (1 + rng.nextInt(3)); // grouped-query attention when H > Hkv
      int Tk = 1 + rng.nextInt(9);
      int Tq = rng.nextBoolean() ? 1 : 1 + rng.nextInt(Tk);
      int D = 1 + rng.nextInt(6);
      int offset = rng.nextInt(Tk - Tq + 1);
      boolean causal = rng.nextBoolean();
      double[] km = new double[B * Tk];
      for (int i = 0; i < km.length; i++) {
        km[i] = rng.nextInt(3) == 0 ? 0 : 1; // holes, a hidden tail, rows that see no key
      }
      boolean withMask = rng.nextBoolean();
      double scale = 1 / Math.sqrt(D);
      double[] qv = values(rng, B * H * Tq * D, 1);
      double[] kv = values(rng, B * Hkv * Tk * D, 1);
      double[] vv = values(rng, B * Hkv * Tk * D, 1);
      both(c, r, x -> {
        Tensor p = x.of(dt, values(new Rng(9), B * H * Tq * Tk, 1), B, H, Tq, Tk); // garbage
        Tensor o = x.of(dt, values(new Rng(8), B * H * Tq * D, 1), B, H, Tq, D);
        x.be.attention(x.of(dt, qv, B, H, Tq, D), x.of(dt, kv, B, Hkv, Tk, D),
            x.of(dt, vv, B, Hkv, Tk, D), scale, withMask ? x.of(dt, km, B, Tk) : null, causal,
            offset, p, o);
        x.out(o, p);
      });
    });
    cases.put("attentionBackward (grouped-query heads, some gradients not asked for)",
        (rng, dt, c, r) -> {
          int B = 1 + rng.nextInt(2);
          int Hkv = 1 + rng.nextInt(2);
          int H = Hkv * (1 + rng.nextInt(3));
          int Tk = 1 + rng.nextInt(7);
          int Tq = 1 + rng.nextInt(Tk);
          int D = 1 + rng.nextInt(5);
          int offset = rng.nextInt(Tk - Tq + 1);
          boolean causal = rng.nextBoolean();
          double scale = 1 / Math.sqrt(D);
          double[] qv = values(rng, B * H * Tq * D, 1);
          double[] kv = values(rng, B * Hkv * Tk * D, 1);
          double[] vv = values(rng, B * Hkv * Tk * D, 1);
          double[] gv = values(rng, B * H * Tq * D, 1);
          boolean[] want = {rng.nextInt(4) != 0, rng.nextInt(4) != 0, rng.nextInt(4) != 0};
          both(c, r, x -> {
            Tensor q = x.of(dt, qv, B, H, Tq, D);
            Tensor k = x.of(dt, kv, B, Hkv, Tk, D);
            Tensor v = x.of(dt, vv, B, Hkv, Tk, D);
            Tensor p = x.empty(dt, B, H, Tq, Tk);
            x.be.attention(q, k, v, scale, null, causal, offset, p, x.empty(dt, B, H, Tq, D));
            Tensor[] d = {x.of(dt, garbage(B * H * Tq * D), B, H, Tq, D),
                x.of(dt, garbage(B * Hkv * Tk * D), B, Hkv, Tk, D),
                x.of(dt, garbage(B * Hkv * Tk * D), B, Hkv, Tk, D)};
            x.be.attentionBackward(q, k, v, p, x.of(dt, gv, B, H, Tq, D), scale,
                want[0] ? d[0] : null, want[1] ? d[1] : null, want[2] ? d[2] : null);
            x.out(d); // one not asked for keeps its garbage
          });
        });
    cases.put("attention and attentionBackward on heads read and written in place: GPT-2's "
        + "(B, T, 3, H, D) projection as Q, K, V (B, H, T, D), its output and gradients (B, T, H, D)",
        (rng, dt, c, r) -> {
          int B = 1 + rng.nextInt(3);
          int H = 1 + rng.nextInt(3);
          int T = 1 + rng.nextInt(7);
          int D = 1 + rng.nextInt(5);
          boolean causal = rng.nextBoolean();
          double[] km = keyMask(rng, B * T);
          boolean withMask = rng.nextBoolean();
          double scale = 1 / Math.sqrt(D);
          double[] qkv = values(rng, B * T * 3 * H * D, 1);
          double[] gv = values(rng, B * T * H * D, 1);
          both(c, r, x -> {
            Tensor[] h = headViews(x, x.of(dt, qkv, B, T, 3 * H, D), 3); // (B, H, T, D) each
            Tensor y = x.of(dt, garbage(B * T * H * D), B, T, H, D);
            Tensor p = x.empty(dt, B, H, T, T);
            x.be.attention(h[0], h[1], h[2], scale, withMask ? x.of(dt, km, B, T) : null, causal,
                0, p, headViews(x, y, 1)[0]);
            Tensor dqkv = x.of(dt, garbage(B * T * 3 * H * D), B, T, 3 * H, D);
            Tensor[] w = headViews(x, dqkv, 3);
            x.be.attentionBackward(h[0], h[1], h[2], p, headViews(x, x.of(dt, gv, B, T, H, D), 1)[0],
                scale, w[0], w[1], w[2]);
            x.out(y, p, dqkv);
          });
        });
    cases.put("flashAttention, flashAttentionBackward", (rng, dt, c, r) -> {
      flashCase(rng, dt, c, r, 2, 9, 6, false);
    });
    cases.put("flashAttention, flashAttentionBackward on heads read and written in place: q, "
        + "out, g, dq in (B, Tq, H, D), k and v (dk, dv) halves of (B, Tk, 2 Hkv, D)",
        (rng, dt, c, r) -> {
          flashCase(rng, dt, c, r, 2, 9, 6, true);
        });
    cases.put("adamw, sumOfSquares (one tensor, several), ema", (rng, dt, c, r) -> {
      int[] s = shape(rng, 1);
      int n = ReferenceBackend.numel(s);
      double[] dp = values(rng, n, 1);
      double[] dg = values(rng, n, 1);
      double[] dm = values(rng, n, 0.1);
      double[] dv = values(rng, n, 0.1);
      for (int i = 0; i < n; i++) {
        dv[i] = Math.abs(dv[i]);
      }
      double acc = rng.nextDouble();
      both(c, r, x -> {
        Tensor p = x.of(dt, dp, s);
        Tensor m = x.of(dt, dm, s);
        Tensor v = x.of(dt, dv, s);
        Tensor g = x.of(dt, dg, s);
        x.be.adamw(p, g, m, v, x.of(DType.FLOAT64, new double[] {1e-2, 0.19, 0.0975}, 3), 0.9,
            0.95, 1e-8, 0.1);
        double sq = x.be.sumOfSquares(g, acc);
        // several tensors at once, the last one of another size
        double sqs = x.be.sumOfSquares(List.of(g, p, x.of(dt, dv, n, 1)), acc);
        Tensor t = x.of(dt, dm, s);
        x.be.ema(t, g, 0.05);
        x.out(p, m, v, x.of(DType.FLOAT64, new double[] {sq, sqs}, 2), t);
      });
    });

    cases.put("adamw over a list of tensors (a model's step), some past one chunk", (rng, dt, c, r)
        -> {
      int count = 1 + rng.nextInt(5);
      int[][] shapes = new int[count][];
      double[][][] d = new double[count][4][];
      double[] wds = new double[count];
      for (int t = 0; t < count; t++) {
        // sizes across the CUDA kernel's 4,096-element chunks
        int n = 1 + rng.nextInt(rng.nextBoolean() ? 40 : 9000);
        shapes[t] = new int[] {n};
        for (int k = 0; k < 4; k++) {
          d[t][k] = values(rng, n, k < 2 ? 1 : 0.1);
        }
        for (int i = 0; i < n; i++) {
          d[t][3][i] = Math.abs(d[t][3][i]); // v >= 0
        }
        wds[t] = rng.nextBoolean() ? 0.1 : 0;
      }
      both(c, r, x -> {
        List<Tensor> ps = new java.util.ArrayList<>();
        List<Tensor> gs = new java.util.ArrayList<>();
        List<Tensor> ms = new java.util.ArrayList<>();
        List<Tensor> vs = new java.util.ArrayList<>();
        for (int t = 0; t < count; t++) {
          ps.add(x.of(dt, d[t][0], shapes[t]));
          gs.add(x.of(dt, d[t][1], shapes[t]));
          ms.add(x.of(dt, d[t][2], shapes[t]));
          vs.add(x.of(dt, d[t][3], shapes[t]));
        }
        x.be.adamw(ps, gs, ms, vs, x.of(DType.FLOAT64, new double[] {1e-2, 0.19, 0.0975}, 3),
            0.9, 0.95, 1e-8, wds);
        List<Tensor> outs = new java.util.ArrayList<>(ps);
        outs.addAll(ms);
        outs.addAll(vs);
        x.out(outs.toArray(new Tensor[0]));
      });
    });

    cases.put("assignAt (a slice whose start is an index)", (rng, dt, c, r) -> {
      int[] s = shape(rng, 1);
      int axis = rng.nextInt(s.length);
      int n = 1 + rng.nextInt(s[axis]);
      int start = rng.nextInt(s[axis] - n + 1);
      int[] srcShape = s.clone();
      srcShape[axis] = n;
      double[] d = values(rng, ReferenceBackend.numel(s), 1);
      double[] src = values(rng, ReferenceBackend.numel(srcShape), 1);
      boolean view = srcShape.length >= 2 && rng.nextBoolean(); // a transposed source
      both(c, r, x -> {
        Tensor out = x.of(dt, d, s);
        Tensor in = x.of(dt, src, srcShape);
        if (view) {
          int[] t = srcShape.clone();
          int last = t.length - 1;
          t[last] = srcShape[last - 1];
          t[last - 1] = srcShape[last];
          int[] perm = new int[t.length];
          for (int i = 0; i < perm.length; i++) {
            perm[i] = i;
          }
          perm[last] = last - 1;
          perm[last - 1] = last;
          Tensor tr = x.of(dt, src, t); // the same values in another layout, read transposed
          in = Tensor.ofStorage(x.be.permute(tr, perm), dt, srcShape);
        }
        x.be.assignAt(in, out, axis, x.be.indices(new int[] {start}));
        x.out(out);
      });
    });
    cases.put("clipByGlobalNorm", (rng, dt, c, r) -> {
      int[] s1 = shape(rng, 1);
      int[] s2 = shape(rng, 1);
      double[] d1 = values(rng, ReferenceBackend.numel(s1), 1);
      double[] d2 = values(rng, ReferenceBackend.numel(s2), 1);
      boolean nan = rng.nextInt(5) == 0;
      if (nan) {
        d2[rng.nextInt(d2.length)] = Double.NaN; // a non-finite norm scales nothing
      }
      // a bound below the norm (scaled), above it (left alone), or 0 (no clipping)
      double norm = 0;
      for (double v : d1) {
        norm += v * v;
      }
      double maxNorm = new double[] {0.3, 2, 0}[rng.nextInt(3)] * Math.sqrt(norm);
      both(c, r, x -> {
        Tensor a = x.of(dt, d1, s1);
        Tensor b = x.of(dt, d2, s2);
        Tensor n = x.empty(DType.FLOAT64);
        x.be.clipByGlobalNorm(List.of(a, b), maxNorm, n);
        if (nan) { // (the comparison's tolerance scales with the largest value: no NaN in it)
          x.out(a, x.of(DType.FLOAT64, new double[] {Double.isNaN(x.be.get(n, 0)) ? 1 : 0}));
        } else {
          x.out(a, b, n);
        }
      });
    });

    cases.put("gatherRows, scatterAddRows, pick, isFinite", (rng, dt, c, r) -> {
      int N = 1 + rng.nextInt(5);
      int C = 1 + rng.nextInt(5);
      int M = 1 + rng.nextInt(6);
      int[] ids = new int[M];
      for (int i = 0; i < M; i++) {
        ids[i] = rng.nextInt(N); // repeats included
      }
      double[] table = values(rng, N * C, 2);
      double[] src = values(rng, M * C, 2);
      int[] idx = new int[N];
      for (int i = 0; i < N; i++) {
        idx[i] = rng.nextInt(C);
      }
      double[] bad = table.clone();
      bad[rng.nextInt(bad.length)] = rng.nextBoolean() ? Double.NaN : Double.POSITIVE_INFINITY;
      both(c, r, x -> {
        Tensor t = x.of(dt, table, N, C);
        Tensor g = x.empty(dt, M, C);
        x.be.gatherRows(t, x.be.indices(ids), g);
        Tensor acc = x.of(dt, table, N, C);
        // host-made indices: a device backend uploads a scratch copy
        x.be.scatterAddRows(x.of(dt, src, M, C), Indices.host(ids), acc);
        Tensor p = x.empty(dt, N);
        x.be.pick(t, x.be.indices(idx), p);
        double finite = (x.be.isFinite(t) ? 1 : 0) + (x.be.isFinite(x.of(dt, bad, N, C)) ? 2 : 0);
        x.out(g, acc, p, x.of(DType.FLOAT64, new double[] {finite}, 1));
      });
    });

    // wide shapes: what the small random shapes above never reach (a device backend's column
    // sums over many rows and tiles of columns, block-wide sums over more than one block's
    // threads, scatters over several column tiles and row ranges)
    cases.put("wide: reduce SUM and MEAN over the leading axes", (rng, dt, c, r) -> {
      int C = 32 + rng.nextInt(70);
      int[] s = rng.nextBoolean() ? new int[] {1 + rng.nextInt(700), C}
          : new int[] {1 + rng.nextInt(9), 1 + rng.nextInt(90), C};
      int[] axes = s.length == 2 ? new int[] {0} : new int[] {1, 0};
      int[] os = s.clone();
      for (int a2 : axes) {
        os[a2] = 1;
      }
      Backend.ReduceOp op = rng.nextBoolean() ? Backend.ReduceOp.SUM : Backend.ReduceOp.MEAN;
      double[] d = values(rng, ReferenceBackend.numel(s), 2);
      call(c, r, dt, os, (be, in, o) -> be.reduce(op, in[0], axes, o), input(rng, dt, c, r, d, s));
    });
    cases.put("wide: layerNorm and rmsNorm backward over many rows", (rng, dt, c, r) -> {
      int rows = 1 + rng.nextInt(900);
      int C = 1 + rng.nextInt(80);
      double[] dx = values(rng, rows * C, 2);
      double[] dgam = values(rng, C, 1);
      double[] dg = values(rng, rows * C, 1);
      both(c, r, x -> {
        Tensor in = x.of(dt, dx, rows, C);
        Tensor gam = x.of(dt, dgam, C);
        Tensor y = x.empty(dt, rows, C);
        Tensor mean = x.empty(DType.FLOAT64, rows);
        Tensor rstd = x.empty(DType.FLOAT64, rows);
        x.be.layerNorm(in, gam, x.of(dt, new double[C], C), 1e-5, y, mean, rstd);
        Tensor d = x.empty(dt, rows, C);
        Tensor dgamma = x.empty(dt, C);
        Tensor dbeta = x.empty(dt, C);
        x.be.layerNormBackward(in, gam, mean, rstd, x.of(dt, dg, rows, C), d, dgamma, dbeta);
        Tensor rs = x.empty(DType.FLOAT64, rows);
        x.be.rmsNorm(in, gam, 1e-5, y, rs);
        Tensor dr = x.empty(dt, rows, C);
        Tensor drg = x.empty(dt, C);
        x.be.rmsNormBackward(in, gam, rs, x.of(dt, dg, rows, C), dr, drg);
        x.out(d, dgamma, dbeta, dr, drg);
      });
    });
    cases.put("wide: scatterAddRows over column tiles and row ranges", (rng, dt, c, r) -> {
      int N = 1 + rng.nextInt(40);
      int C = 1 + rng.nextInt(600);
      int M = 1 + rng.nextInt(700);
      int[] ids = new int[M];
      for (int i = 0; i < M; i++) {
        ids[i] = rng.nextInt(N); // many repeats: their order of addition matters
      }
      double[] table = values(rng, N * C, 2);
      double[] src = values(rng, M * C, 2);
      both(c, r, x -> {
        Tensor acc = x.of(dt, table, N, C);
        x.be.scatterAddRows(x.of(dt, src, M, C), x.be.indices(ids), acc);
        x.out(acc);
      });
    });
    cases.put("wide: flashAttention, flashAttentionBackward over several tiles", (rng, dt, c, r) -> {
      // the CUDA kernels' tiles: 64 or 32 queries by 32 keys, head sizes in chunks of 32 (to 128)
      flashCase(rng, dt, c, r, 1, 140, 128, rng.nextBoolean());
    });
    cases.put("wide: attentionSoftmax and softmaxBackward over long rows", (rng, dt, c, r) -> {
      // the CUDA backend's row paths: the attention softmax gives up to 1,024 keys to a warp,
      // the softmax backward holds up to 2,048 in a block's registers; longer rows loop
      int Tk = rng.nextBoolean() ? 1 + rng.nextInt(1024) : 1025 + rng.nextInt(1600);
      int Tq = 1 + rng.nextInt(2);
      int offset = Tk - Tq;
      boolean causal = rng.nextBoolean();
      double[] km = new double[Tk];
      for (int i = 0; i < Tk; i++) {
        km[i] = rng.nextInt(3) == 0 ? 0 : 1;
      }
      boolean withMask = rng.nextBoolean();
      double scale = 0.1 + rng.nextDouble();
      double[] sv = values(rng, 2 * Tq * Tk, 3);
      double[] dg = values(rng, 2 * Tq * Tk, 1);
      double gs = rng.nextGaussian();
      both(c, r, x -> {
        Tensor s = x.of(dt, sv, 1, 2, Tq, Tk);
        Tensor p = x.empty(dt, 1, 2, Tq, Tk);
        x.be.attentionSoftmax(s, scale, withMask ? x.of(dt, km, 1, Tk) : null, causal, offset, p);
        Tensor d = x.empty(dt, 1, 2, Tq, Tk);
        x.be.softmaxBackward(p, x.of(dt, dg, 1, 2, Tq, Tk), gs, d);
        x.out(p, d);
      });
    });
    cases.put("wide: crossEntropyLoss over many rows, clipping many tensors", (rng, dt, c, r) -> {
      int R = 1 + rng.nextInt(900);
      int V = 1 + rng.nextInt(4);
      int[] targets = new int[R];
      for (int i = 0; i < R; i++) {
        targets[i] = rng.nextInt(4) == 0 ? -100 : rng.nextInt(V);
      }
      double[] dl = values(rng, R * V, 2);
      int tensors = 1 + rng.nextInt(400);
      double[][] ds = new double[tensors][];
      for (int i = 0; i < tensors; i++) { // now and then one past the CUDA kernels' chunks
        ds[i] = values(rng, rng.nextInt(60) == 0 ? 4000 + rng.nextInt(5000) : 1 + rng.nextInt(3),
            1);
      }
      both(c, r, x -> {
        Tensor stats = x.empty(DType.FLOAT64, 2);
        x.be.crossEntropyLoss(x.of(dt, dl, R, V), x.be.indices(targets), -100, stats);
        List<Tensor> ts = new java.util.ArrayList<>();
        for (double[] d : ds) {
          ts.add(x.of(dt, d, d.length));
        }
        Tensor n = x.empty(DType.FLOAT64);
        x.be.clipByGlobalNorm(ts, 0.5, n);
        List<Tensor> outs = new java.util.ArrayList<>(ts);
        outs.add(stats);
        outs.add(n);
        x.out(outs.toArray(new Tensor[0]));
      });
    });

    cases.put("sampleRows (temperature, top-k, top-p, greedy)", (rng, dt, c, r) -> {
      int B = 1 + rng.nextInt(4);
      int V = 1 + rng.nextInt(12);
      double[] z = values(rng, B * V, 2);
      if (rng.nextBoolean()) { // ties
        for (int i = 0; i < z.length; i++) {
          z[i] = Math.round(z[i]);
        }
      }
      boolean[] active = new boolean[B];
      double[] u = new double[B];
      for (int b = 0; b < B; b++) {
        active[b] = rng.nextInt(4) != 0;
        u[b] = rng.nextDouble();
      }
      double temperature = 0.3 + rng.nextDouble();
      int topK = rng.nextInt(V + 1);
      double topP = rng.nextBoolean() ? 1.0 : 0.2 + 0.8 * rng.nextDouble();
      boolean greedy = rng.nextInt(4) == 0;
      both(c, r, x -> {
        int[] tokens = new int[B];
        double[] logprobs = new double[B];
        java.util.Arrays.fill(tokens, -7); // inactive rows keep it
        x.be.sampleRows(x.of(dt, z, B, V), active, temperature, topK, topP, greedy, u, tokens,
            logprobs);
        double[] t = new double[B];
        for (int b = 0; b < B; b++) {
          t[b] = tokens[b];
        }
        x.out(x.of(DType.FLOAT64, t, B), x.of(DType.FLOAT64, logprobs, B));
      });
    });

    return cases;
  }

  static void compare(String what, DType dt, Backend under, Tensor[] cpu, Tensor[] ref) {
    assertThat(cpu).hasSameSizeAs(ref);
    for (int i = 0; i < cpu.length; i++) {
      assertThat(cpu[i].shape()).as(what).containsExactly(ref[i].shape());
      double[] a = under.toDoubles(cpu[i]);
      double[] b = REF.toDoubles(ref[i]);
      double scale = 1e-300;
      for (double x : b) {
        if (Double.isFinite(x)) { // an infinite output must be met exactly, not widen the rest
          scale = Math.max(scale, Math.abs(x));
        }
      }
      double tol = (dt == DType.FLOAT64 ? 1e-12 : 2e-6) * Math.max(1, scale);
      for (int k = 0; k < a.length; k++) {
        if (a[k] != b[k] && !(Math.abs(a[k] - b[k]) <= tol)
            && !(Double.isNaN(a[k]) && Double.isNaN(b[k]))) {
          throw new AssertionError(what + ", output " + i + " element " + k + ": backend " + a[k]
              + ", reference " + b[k] + " (shape " + Arrays.toString(cpu[i].shape()) + ")");
        }
      }
    }
  }
}
