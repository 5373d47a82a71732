package org.sdpo.autograd;

/**
 * Gradient recording on or off, per thread. Inside {@code try (var s = Grad.disabled()) {...}} ops
 * compute values only and build no graph (sampling, evaluation, the SDPO teacher's forward).
 */
public final class Grad {
  private static final ThreadLocal<Boolean> ENABLED = ThreadLocal.withInitial(() -> Boolean.TRUE);

  private Grad() {}

  /** True if ops record the graph on this thread. */
  public static boolean isEnabled() {
    return ENABLED.get();
  }

  /** Turns recording off until the returned scope closes; scopes nest. */
  public static Scope disabled() {
    return set(false);
  }

  /** Turns recording on until the returned scope closes (inside a disabled region). */
  public static Scope enabled() {
    return set(true);
  }

  private static Scope set(boolean on) {
    boolean previous = ENABLED.get();
    ENABLED.set(on);
    return () -> ENABLED.set(previous);
  }

  /** Restores the previous mode on close. */
  public interface Scope extends AutoCloseable {
    @Override
    void close();
  }
}
