package org.sdpo.tensor;

import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.nio.ByteOrder;
import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;
import org.sdpo.tensor.Backend.BinaryOp;

/**
 * Float32 kernels on the Java Vector API: the widest float vector the CPU has, loads and stores
 * straight from the tensors' native memory. Loaded only when {@link VectorSupport#ENABLED}.
 *
 * <p>Results are bit-identical to the scalar loops of {@link JavaKernels} and {@link
 * FusedKernels}, which compute in double and round to float once. Two forms:
 *
 * <ul>
 *   <li>float lanes ({@link #segment}): for +, -, * and / of two floats, rounding the exact result
 *       to double and then to float gives the correctly rounded float result (double's 53 bits
 *       are at least twice float's 24 plus 2), which is what a float lane computes;
 *   <li>double lanes (AdamW, GELU, layer norm's and the softmax backward's elementwise passes,
 *       axpy, scalar multiply and add, column sums): each float is widened exactly and every
 *       operation is the scalar loop's double operation in the scalar loop's order, with no fused
 *       multiply-add, then rounded to float once. Column sums put one column in each lane, so
 *       every column still adds its rows in order.
 * </ul>
 *
 * Operations where neither holds (exp, tanh, sums along a row, whose order would change) stay
 * scalar. The tests compare both paths bit for bit ({@code VectorKernelsTest}); since the outputs
 * are rounded to float, a change of association in double would mostly hide there, so each
 * kernel's expression is written to mirror its scalar loop term by term.
 */
final class VectorKernels {
  private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
  private static final ByteOrder NATIVE = ByteOrder.nativeOrder();

  private VectorKernels() {}

  static int lanes() {
    return S.length();
  }

  /** Whether {@link #segment} takes this operation. */
  static boolean supports(BinaryOp op) {
    return op == BinaryOp.ADD || op == BinaryOp.SUB || op == BinaryOp.MUL || op == BinaryOp.DIV;
  }

  /**
   * One segment of {@link JavaKernels#binaryRows}: out[o, o+len) = a[ao, ..) op b[bo, ..),
   * indices from each buffer's first element.
   */
  static void segment(BinaryOp op, Buf.F32 a, int ao, Buf.F32 b, int bo, Buf.F32 out, int o,
      int len) {
    int ai = a.off + ao;
    int bi = b.off + bo;
    int oi = out.off + o;
    int step = S.length();
    int upper = S.loopBound(len);
    int i = 0;
    for (; i < upper; i += step) {
      FloatVector x = read(S, a, ai + i);
      FloatVector y = read(S, b, bi + i);
      FloatVector r;
      switch (op) {
        case ADD:
          r = x.add(y);
          break;
        case SUB:
          r = x.sub(y);
          break;
        case MUL:
          r = x.mul(y);
          break;
        case DIV:
          r = x.div(y);
          break;
        default:
          throw new AssertionError(op);
      }
      write(r, out, oi + i);
    }
    for (; i < len; i++) { // the tail, as the scalar loop computes it
      out.set(o + i, JavaKernels.binary(op, a.get(ao + i), b.get(bo + i)));
    }
  }

  // AdamW in double lanes: each float is widened exactly, every operation is the scalar loop's
  // double operation in the scalar loop's order (no fused multiply-add), and the results are
  // rounded to float once, as the scalar loop's stores round them: bit-identical.
  private static final VectorSpecies<Double> DS = DoubleVector.SPECIES_PREFERRED;
  private static final VectorSpecies<Float> HALF = VectorSpecies.of(float.class,
      jdk.incubator.vector.VectorShape.forBitSize(DS.vectorBitSize() / 2));

  /** Lanes of the double vectors {@link #adamw} uses. */
  static int doubleLanes() {
    return DS.length();
  }

  /**
   * {@link FusedKernels#adamw} on elements [from, to) of float32 buffers; the tail past the last
   * whole vector runs the scalar loop.
   */
  static void adamw(Buf.F32 p, Buf.F32 g, Buf.F32 m, Buf.F32 v, double lr, double beta1,
      double beta2, double eps, double wd, double bc1, double bc2, int from, int to) {
    int step = DS.length();
    int i = from;
    double c1 = 1 - beta1;
    double c2 = 1 - beta2;
    double lrWd = lr * wd;
    for (; i + step <= to; i += step) {
      DoubleVector gi = load(g, i);
      DoubleVector mi = load(m, i).mul(beta1).add(gi.mul(c1)); // beta1 m + (1 - beta1) g
      DoubleVector vi = load(v, i).mul(beta2).add(gi.mul(c2).mul(gi)); // ... (1 - beta2) g g
      store(mi, m, i);
      store(vi, v, i);
      DoubleVector pi = load(p, i);
      // pi - lr (mi / bc1) / (sqrt(vi / bc2) + eps) - lr wd pi
      DoubleVector upd = mi.div(bc1).mul(lr).div(vi.div(bc2).lanewise(VectorOperators.SQRT)
          .add(eps));
      store(pi.sub(upd).sub(pi.mul(lrWd)), p, i);
    }
    if (i < to) {
      FusedKernels.adamwScalar(p, g, m, v, lr, beta1, beta2, eps, wd, bc1, bc2, i, to);
    }
  }

  // The elementwise fused kernels in double lanes, each the scalar loop's expression with the
  // same operations in the same order (commuted only where IEEE arithmetic commutes exactly: a +
  // b = b + a, a b = b a, a - b = a + (-b)): bit-identical. Each runs whole vectors from
  // {@code from} and returns where it stopped; the caller's scalar loop does the tail.

  /** {@link FusedKernels#geluInner}: u = sqrt(2/pi) (x + ((0.044715 x) x) x). */
  static int geluInner(Buf.F32 x, Buf.F32 u, int from, int to) {
    int i = from;
    for (int step = DS.length(); i + step <= to; i += step) {
      DoubleVector v = load(x, i);
      DoubleVector cube = v.mul(FusedKernels.GELU_A).mul(v).mul(v);
      store(v.add(cube).mul(FusedKernels.SQRT_2_OVER_PI), u, i);
    }
    return i;
  }

  /** {@link FusedKernels#geluOuter}: y = (0.5 x) (1 + t). */
  static int geluOuter(Buf.F32 x, Buf.F32 t, Buf.F32 y, int from, int to) {
    int i = from;
    for (int step = DS.length(); i + step <= to; i += step) {
      store(load(x, i).mul(0.5).mul(load(t, i).add(1)), y, i);
    }
    return i;
  }

  /**
   * {@link FusedKernels#geluBackward}: dx = g (0.5 (1 + t) + ((0.5 x) (1 - t t)) dudx), dudx =
   * sqrt(2/pi) (1 + ((3 0.044715) x) x).
   */
  static int geluBackward(Buf.F32 x, Buf.F32 t, Buf.F32 g, Buf.F32 dx, int from, int to) {
    double a3 = 3 * FusedKernels.GELU_A;
    int i = from;
    for (int step = DS.length(); i + step <= to; i += step) {
      DoubleVector v = load(x, i);
      DoubleVector th = load(t, i);
      DoubleVector dudx = v.mul(a3).mul(v).add(1).mul(FusedKernels.SQRT_2_OVER_PI);
      DoubleVector right = v.mul(0.5).mul(th.mul(th).neg().add(1)).mul(dudx);
      store(load(g, i).mul(th.add(1).mul(0.5).add(right)), dx, i);
    }
    return i;
  }

  /** {@link JavaKernels#axpy}: y = y + alpha x. */
  static int axpy(double alpha, Buf.F32 x, Buf.F32 y, int from, int to) {
    int i = from;
    for (int step = DS.length(); i + step <= to; i += step) {
      store(load(y, i).add(load(x, i).mul(alpha)), y, i);
    }
    return i;
  }

  /** {@link JavaKernels#scalar}'s multiply and add: out = x s, or x + s. */
  static int scalar(boolean multiply, Buf.F32 x, double s, Buf.F32 out, int from, int to) {
    int i = from;
    for (int step = DS.length(); i + step <= to; i += step) {
      DoubleVector v = load(x, i);
      store(multiply ? v.mul(s) : v.add(s), out, i);
    }
    return i;
  }

  /** {@link JavaKernels#fill}: out = (float) v. */
  static int fill(Buf.F32 out, double v, int from, int to) {
    FloatVector f = FloatVector.broadcast(S, (float) v);
    int i = from;
    for (int step = S.length(); i + step <= to; i += step) {
      write(f, out, out.off + i);
    }
    return i;
  }

  /** One row's write pass of {@link FusedKernels#softmaxBackward}: dx = (scale y) (g - dot). */
  static int softmaxBackwardRow(Buf.F32 y, Buf.F32 g, double scale, double dot, Buf.F32 dx,
      int o, int K) {
    int j = 0;
    for (int step = DS.length(); j + step <= K; j += step) {
      store(load(y, o + j).mul(scale).mul(load(g, o + j).sub(dot)), dx, o + j);
    }
    return j;
  }

  /** One row's write pass of {@link FusedKernels#layerNorm}: y = ((x - m) s) gamma + beta. */
  static int layerNormRow(Buf.F32 x, Buf.F32 gamma, Buf.F32 beta, double m, double s, Buf.F32 y,
      int o, int C) {
    int c = 0;
    for (int step = DS.length(); c + step <= C; c += step) {
      DoubleVector v = load(x, o + c).sub(m).mul(s).mul(load(gamma, c)).add(load(beta, c));
      store(v, y, o + c);
    }
    return c;
  }

  /**
   * One row's write pass of {@link FusedKernels#layerNormBackward}: dx = s ((g gamma - meanD) -
   * ((x - m) s) meanDX).
   */
  static int layerNormBackwardRow(Buf.F32 x, Buf.F32 gamma, Buf.F32 g, double m, double s,
      double meanD, double meanDX, Buf.F32 dx, int o, int C) {
    int c = 0;
    for (int step = DS.length(); c + step <= C; c += step) {
      DoubleVector xhat = load(x, o + c).sub(m).mul(s);
      DoubleVector d = load(g, o + c).mul(load(gamma, c)).sub(meanD).sub(xhat.mul(meanDX));
      store(d.mul(s), dx, o + c);
    }
    return c;
  }

  /**
   * One row's share of {@link FusedKernels#layerNormBackward}'s column sums over columns [c0,
   * c1): db[c] += g, dg[c] += (g (x - m)) s, accumulators indexed from c0; lanes are columns, so
   * each column still adds its rows in order.
   */
  static int layerNormColumnSums(Buf.F32 x, Buf.F32 g, double m, double s, int o, int c0, int c1,
      double[] dg, double[] db) {
    int c = c0;
    for (int step = DS.length(); c + step <= c1; c += step) {
      DoubleVector dy = load(g, o + c);
      DoubleVector.fromArray(DS, db, c - c0).add(dy).intoArray(db, c - c0);
      DoubleVector.fromArray(DS, dg, c - c0).add(dy.mul(load(x, o + c).sub(m)).mul(s))
          .intoArray(dg, c - c0);
    }
    return c;
  }

  /**
   * One row's share of {@link JavaKernels#reduceColumns}' sum over columns [c0, c1): acc[c] +=
   * x, accumulators indexed from c0, each column adding its rows in order.
   */
  static int sumColumns(Buf.F32 x, int o, int c0, int c1, double[] acc) {
    int c = c0;
    for (int step = DS.length(); c + step <= c1; c += step) {
      DoubleVector.fromArray(DS, acc, c - c0).add(load(x, o + c)).intoArray(acc, c - c0);
    }
    return c;
  }

  /**
   * y[j] = fma(a, x[xo + j], y[j]) in float lanes for j from 0 while a whole vector fits in n;
   * returns the first j not done. A lane's fused multiply-add is Math.fma's, exactly rounded
   * once (x a + y = a x + y exactly), so each y[j] is the scalar loop's.
   */
  static int fmaInto(float a, float[] x, int xo, float[] y, int n) {
    FloatVector av = FloatVector.broadcast(S, a);
    int j = 0;
    for (int upper = S.loopBound(n); j < upper; j += S.length()) {
      FloatVector.fromArray(S, x, xo + j).fma(av, FloatVector.fromArray(S, y, j)).intoArray(y, j);
    }
    return j;
  }

  private static DoubleVector load(Buf.F32 b, int i) {
    return (DoubleVector) read(HALF, b, b.off + i).convertShape(VectorOperators.F2D, DS, 0);
  }

  private static void store(DoubleVector x, Buf.F32 b, int i) {
    write((FloatVector) x.convertShape(VectorOperators.D2F, HALF, 0), b, b.off + i);
  }

  /** The floats of b's memory from element i (counted from the memory's start, not b.off). */
  private static FloatVector read(VectorSpecies<Float> s, Buf.F32 b, int i) {
    if (Segments.ON) {
      return Segments.read(s, b, i);
    }
    return FloatVector.fromByteBuffer(s, b.bytes, i * 4, NATIVE);
  }

  /** Writes v into b's memory from element i (counted from the memory's start, not b.off). */
  private static void write(FloatVector v, Buf.F32 b, int i) {
    if (Segments.ON) {
      Segments.write(v, b, i);
    } else {
      v.intoByteBuffer(b.bytes, i * 4, NATIVE);
    }
  }

  /**
   * Loads and stores on JDK 20 and later, whose Vector API reads and writes memory segments
   * ({@code java.lang.foreign.MemorySegment}) where JDK 17-19's read byte buffers. This code is
   * compiled for JDK 17, which cannot name a memory segment, so it calls those methods through
   * method handles held in constants, which the JIT inlines as it inlines a direct call. A
   * buffer's segment is made once and kept on the buffer ({@link Buf.F32#segment}).
   */
  static final class Segments {
    /** Whether this JDK has no byte-buffer loads and the segment methods were found. */
    static final boolean ON;
    // (VectorSpecies, MemorySegment as Object, long byte offset, ByteOrder) -> FloatVector
    private static final MethodHandle FROM;
    // (FloatVector, MemorySegment as Object, long byte offset, ByteOrder) -> void
    private static final MethodHandle INTO;
    // (ByteBuffer) -> MemorySegment as Object
    private static final MethodHandle OF_BUFFER;

    static {
      MethodHandle from = null;
      MethodHandle into = null;
      MethodHandle ofBuffer = null;
      if (!hasByteBufferLoads()) {
        try {
          Class<?> ms = Class.forName("java.lang.foreign.MemorySegment");
          MethodHandles.Lookup l = MethodHandles.lookup();
          from = l.findStatic(FloatVector.class, "fromMemorySegment", MethodType.methodType(
              FloatVector.class, VectorSpecies.class, ms, long.class, ByteOrder.class))
              .asType(MethodType.methodType(FloatVector.class, VectorSpecies.class, Object.class,
                  long.class, ByteOrder.class));
          into = l.findVirtual(FloatVector.class, "intoMemorySegment", MethodType.methodType(
              void.class, ms, long.class, ByteOrder.class))
              .asType(MethodType.methodType(void.class, FloatVector.class, Object.class,
                  long.class, ByteOrder.class));
          ofBuffer = l.findStatic(ms, "ofBuffer", MethodType.methodType(ms,
              java.nio.Buffer.class)).asType(MethodType.methodType(Object.class,
                  java.nio.ByteBuffer.class));
        } catch (ReflectiveOperationException | LinkageError e) {
          from = null;
        }
      }
      if (from != null && !roundTrips(from, into, ofBuffer)) {
        from = null; // found but not usable here (a JDK where these are preview features)
      }
      ON = from != null;
      FROM = from;
      INTO = into;
      OF_BUFFER = ofBuffer;
    }

    private Segments() {}

    /** Whether a load and a store through these handles work on a small buffer. */
    private static boolean roundTrips(MethodHandle from, MethodHandle into,
        MethodHandle ofBuffer) {
      try {
        ByteOrder order = ByteOrder.nativeOrder();
        java.nio.ByteBuffer bb = java.nio.ByteBuffer.allocateDirect(4 * 64).order(order);
        bb.putFloat(0, 1.5f);
        Object seg = (Object) ofBuffer.invokeExact(bb);
        VectorSpecies<Float> s = FloatVector.SPECIES_PREFERRED;
        FloatVector v = (FloatVector) from.invokeExact(s, seg, 0L, order);
        into.invokeExact(v.add(v), seg, 0L, order);
        return bb.getFloat(0) == 3f;
      } catch (Throwable t) {
        return false;
      }
    }

    /** Whether this JDK's Vector API has JDK 17-19's byte-buffer loads. */
    static boolean hasByteBufferLoads() {
      try {
        FloatVector.class.getMethod("fromByteBuffer", VectorSpecies.class,
            java.nio.ByteBuffer.class, int.class, ByteOrder.class);
        return true;
      } catch (NoSuchMethodException e) {
        return false;
      }
    }

    static FloatVector read(VectorSpecies<Float> s, Buf.F32 b, int i) {
      try {
        return (FloatVector) FROM.invokeExact(s, segment(b), (long) i * 4, NATIVE);
      } catch (Throwable t) {
        throw rethrown(t);
      }
    }

    static void write(FloatVector v, Buf.F32 b, int i) {
      try {
        INTO.invokeExact(v, segment(b), (long) i * 4, NATIVE);
      } catch (Throwable t) {
        throw rethrown(t);
      }
    }

    /** The segment of b's whole memory, from its first byte (not its position). */
    private static Object segment(Buf.F32 b) {
      Object m = b.segment;
      return m != null ? m : newSegment(b); // the second branch is cold: kept out of the loops
    }

    private static Object newSegment(Buf.F32 b) {
      try {
        Object m = (Object) OF_BUFFER.invokeExact(b.bytes.duplicate().clear());
        b.segment = m;
        return m;
      } catch (Throwable t) {
        throw rethrown(t);
      }
    }

    private static RuntimeException rethrown(Throwable t) {
      if (t instanceof RuntimeException r) {
        return r;
      }
      if (t instanceof Error e) {
        throw e;
      }
      return new IllegalStateException("vector kernels: " + t, t);
    }
  }
}
