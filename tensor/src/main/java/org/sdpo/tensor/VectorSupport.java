package org.sdpo.tensor;

/**
 * Whether the vector kernels ({@link VectorKernels}, the Java Vector API) run, decided once at
 * start-up. They need the incubator module ({@code --add-modules jdk.incubator.vector}, which
 * {@code ./sdpo}, {@code bench/run} and the tests pass), loads and stores through byte buffers
 * (JDK 17-19) or memory segments (JDK 20 and later, {@link VectorKernels.Segments}), and can be
 * switched off with {@code -Dsdpo.vectorKernels=false}. Without them the same operations run as
 * scalar loops with bit-identical results. This class names no incubator type, so it loads on
 * every JDK.
 */
final class VectorSupport {
  static final boolean ENABLED = detect();

  /**
   * Whether kernels take the vector path now: {@link #ENABLED}, unless a test switched it off to
   * compute the scalar loops' result for comparison.
   */
  static volatile boolean active = ENABLED;

  private VectorSupport() {}

  /** The vector path is on and every buffer is float32 memory the vector kernels can address. */
  static boolean lanes(Buf... bufs) {
    if (!active) {
      return false;
    }
    for (Buf b : bufs) {
      if (!(b instanceof Buf.F32 f) || f.bytes == null) {
        return false;
      }
    }
    return true;
  }

  private static boolean detect() {
    if (!Boolean.parseBoolean(System.getProperty("sdpo.vectorKernels", "true"))
        || ModuleLayer.boot().findModule("jdk.incubator.vector").isEmpty()) {
      return false;
    }
    try {
      return (VectorKernels.Segments.hasByteBufferLoads() || VectorKernels.Segments.ON)
          && VectorKernels.lanes() > 1;
    } catch (LinkageError e) {
      return false;
    }
  }

  /** "vector kernels: 16 float lanes" or why they are off. */
  static String describe() {
    if (ENABLED) {
      return "vector kernels: " + VectorKernels.lanes() + " float lanes"
          + (VectorKernels.Segments.ON ? " (memory segments)" : "");
    }
    if (!Boolean.parseBoolean(System.getProperty("sdpo.vectorKernels", "true"))) {
      return "vector kernels: off (-Dsdpo.vectorKernels=false)";
    }
    return ModuleLayer.boot().findModule("jdk.incubator.vector").isEmpty()
        ? "vector kernels: off (no --add-modules jdk.incubator.vector)"
        : "vector kernels: off (this JDK's Vector API has neither byte-buffer nor memory-segment"
            + " loads)";
  }
}
