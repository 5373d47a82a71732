package org.sdpo.tensor.cuda;

import java.util.Locale;
import org.sdpo.tensor.CallProfile;

/**
 * Device time per kernel, for finding where a step's time goes ({@code SDPO_CUDA_PROFILE=1} or
 * {@code -Dsdpo.cuda.profile=true}). The driver times each launch, matrix multiply, copy and
 * graph replay alone (on a GPU: CUDA events around it, then a wait for it, so nothing overlaps
 * and host gaps are left out) and adds it here under its name; at exit the table goes to
 * stderr, largest total first ({@link CallProfile}). Work recorded into a graph is timed as the
 * replay, one row. Each name's first call is kept apart: it carries one-time costs, such as
 * loading the kernel's module or cuBLAS choosing and loading its kernel.
 */
public final class KernelProfile extends CallProfile {
  private final boolean byGrid;

  /** A profile with one row per kernel name. */
  public KernelProfile() {
    this(false);
  }

  /** byGrid: one row per kernel name and grid size (SDPO_CUDA_PROFILE=grid), to tell sizes apart. */
  public KernelProfile(boolean byGrid) {
    super("CUDA profile (each call timed alone on the device; each name's first call apart)",
        "kernel");
    this.byGrid = byGrid;
  }

  /** Whether profiling was asked for. */
  static boolean wanted() {
    return Boolean.getBoolean("sdpo.cuda.profile") || "1".equals(System.getenv("SDPO_CUDA_PROFILE"))
        || byGridWanted();
  }

  private static boolean byGridWanted() {
    return "grid".equals(System.getProperty("sdpo.cuda.profile", System.getenv("SDPO_CUDA_PROFILE")));
  }

  /** A profile printed to stderr when the JVM exits, if profiling was asked for; else null. */
  static KernelProfile fromEnvironment() {
    if (!wanted()) {
      return null;
    }
    KernelProfile p = new KernelProfile(byGridWanted());
    p.printAtExit(30, "sdpo-cuda-profile");
    return p;
  }

  /** A matrix multiply's row: cuBLAS's column-major m x n x k, transposes, batch. */
  static String gemmName(CudaDriver.GemmType type, boolean transA, boolean transB, int m, int n,
      int k, int batch) {
    return "cuBLAS gemm " + type.name().toLowerCase(Locale.ROOT) + " " + (transA ? "T" : "N")
        + (transB ? "T" : "N") + " " + m + "x" + n + "x" + k + (batch > 1 ? " batch " + batch : "");
  }

  /** A product with the bias epilogue's row (cuBLASLt), named as {@link #gemmName}. */
  static String gemmBiasName(CudaDriver.GemmType type, boolean transA, boolean transB, int m,
      int n, int k) {
    return "cuBLASLt gemm+bias" + gemmName(type, transA, transB, m, n, k, 1).substring(11);
  }

  /** The row a launch of {@code kernel} with {@code grid} blocks is added to. */
  String launchName(String kernel, int grid) {
    return byGrid ? kernel + " (grid " + grid + ")" : kernel;
  }
}
