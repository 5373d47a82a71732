package org.sdpo.autograd;

/**
 * Anomaly detection (like PyTorch's {@code detect_anomaly}): while enabled, every op checks its
 * forward output and every backward checks the gradients it returns, and the first NaN or
 * infinity raises an {@link AnomalyException} naming the op. It costs a pass over every tensor,
 * so it is off by default.
 */
public final class Anomaly {
  private static final ThreadLocal<Boolean> ENABLED = ThreadLocal.withInitial(() -> Boolean.FALSE);

  private Anomaly() {}

  public static boolean isEnabled() {
    return ENABLED.get();
  }

  /** Turns detection on until the returned scope closes. */
  public static Grad.Scope detect() {
    boolean previous = ENABLED.get();
    ENABLED.set(true);
    return () -> ENABLED.set(previous);
  }

  /** Thrown at the first op whose forward or backward produced NaN or infinity. */
  public static final class AnomalyException extends RuntimeException {
    private final String op;

    AnomalyException(String op, String message) {
      super(message);
      this.op = op;
    }

    /** The name of the op that produced the non-finite value. */
    public String op() {
      return op;
    }
  }

  static void checkForward(Op op, org.sdpo.tensor.Tensor out) {
    if (!out.isFinite()) {
      throw new AnomalyException(op.name(), "anomaly: forward of op '" + op.name()
          + "' produced NaN or infinity in its output of shape "
          + java.util.Arrays.toString(out.shape()));
    }
  }

  static void checkBackward(Op op, int input, org.sdpo.tensor.Tensor grad) {
    if (!grad.isFinite()) {
      throw new AnomalyException(op.name(), "anomaly: backward of op '" + op.name()
          + "' produced NaN or infinity in the gradient of input " + input + " (shape "
          + java.util.Arrays.toString(grad.shape()) + ")");
    }
  }
}
