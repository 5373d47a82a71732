package org.sdpo.tensor;

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
 * <p>Results are bit-identical to the scalar loops of {@link JavaKernels}, which compute in double
 * and round to float once: for +, -, * and / of two floats, rounding the exact result to double
 * and then to float gives the correctly rounded float result (double's 53 bits are at least twice
 * float's 24 plus 2), which is what a float lane computes. Operations where that does not hold
 * (exp, tanh, fused multiply-add, reductions whose order would change) stay scalar here.
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
      FloatVector x = FloatVector.fromByteBuffer(S, a.bytes, (ai + i) * 4, NATIVE);
      FloatVector y = FloatVector.fromByteBuffer(S, b.bytes, (bi + i) * 4, NATIVE);
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
      r.intoByteBuffer(out.bytes, (oi + i) * 4, NATIVE);
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

  private static DoubleVector load(Buf.F32 b, int i) {
    return (DoubleVector) FloatVector.fromByteBuffer(HALF, b.bytes, (b.off + i) * 4, NATIVE)
        .convertShape(VectorOperators.F2D, DS, 0);
  }

  private static void store(DoubleVector x, Buf.F32 b, int i) {
    ((FloatVector) x.convertShape(VectorOperators.D2F, HALF, 0))
        .intoByteBuffer(b.bytes, (b.off + i) * 4, NATIVE);
  }
}
