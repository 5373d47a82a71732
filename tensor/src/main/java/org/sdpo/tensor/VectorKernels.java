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

  /** Whether {@link #binaryRows} takes this operation. */
  static boolean supports(BinaryOp op) {
    return op == BinaryOp.ADD || op == BinaryOp.SUB || op == BinaryOp.MUL || op == BinaryOp.DIV;
  }

  /** {@link JavaKernels#binaryRows} for float32 buffers with byte views. */
  static void binaryRows(BinaryOp op, Buf.F32 a, int aPeriod, Buf.F32 b, int bPeriod,
      Buf.F32 out) {
    int n = out.size();
    if (aPeriod == n && bPeriod == n) {
      Parallel.forRange(n, 1, (s, e) -> segment(op, a, a.off + s, b, b.off + s, out, out.off + s,
          e - s));
      return;
    }
    int inner = Math.min(aPeriod, bPeriod); // the shorter period divides the longer one
    int rows = n / inner;
    Parallel.forRange(rows, inner, (s, e) -> {
      for (int r = s; r < e; r++) {
        int o = r * inner;
        int ao = aPeriod == n ? o : o % aPeriod;
        int bo = bPeriod == n ? o : o % bPeriod;
        segment(op, a, a.off + ao, b, b.off + bo, out, out.off + o, inner);
      }
    });
  }

  /** out[oi..oi+len) = a[ai..) op b[bi..), absolute element indices into each buffer. */
  private static void segment(BinaryOp op, Buf.F32 a, int ai, Buf.F32 b, int bi, Buf.F32 out,
      int oi, int len) {
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
      float x = a.bytes.getFloat((ai + i) * 4);
      float y = b.bytes.getFloat((bi + i) * 4);
      out.bytes.putFloat((oi + i) * 4, (float) JavaKernels.binary(op, x, y));
    }
  }
}
