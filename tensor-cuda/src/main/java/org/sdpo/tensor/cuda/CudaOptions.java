package org.sdpo.tensor.cuda;

import org.sdpo.tensor.DeviceUnavailableException;

/** The CUDA backend's settings that a system property or an environment variable gives. */
final class CudaOptions {
  private CudaOptions() {}

  /**
   * A whole number of MiB from {@code property} (or, unset, the environment's {@code variable}),
   * in bytes; -1 when neither is set. Anything else than a number >= 0 fails with one line that
   * names the variable, then {@code hint}.
   */
  static long mebibytes(String property, String variable, String hint) {
    String v = System.getProperty(property, System.getenv(variable));
    if (v == null || v.isBlank()) {
      return -1;
    }
    long mb;
    try {
      mb = Long.parseLong(v.trim());
    } catch (NumberFormatException e) {
      mb = -1;
    }
    if (mb < 0) {
      throw new DeviceUnavailableException("--device cuda: " + variable + " is '" + v
          + "', not a number of MiB" + hint);
    }
    return mb << 20;
  }
}
