package org.sdpo.tensor;

import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
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
}
