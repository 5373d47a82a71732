package org.sdpo.tensor.cuda;

import java.nio.file.Path;
import org.junit.jupiter.api.Assumptions;

/**
 * The kernel emulator's library for this test run, built once per JVM by {@code
 * build-emulator.sh} into {@code target/kernel-emulator/}; the calling test is skipped, with the
 * script's message, where it cannot be built (no C++ compiler, not Linux).
 */
final class EmulatorLibrary {
  private static Path built;
  private static String skipped;

  private EmulatorLibrary() {}

  static synchronized Path path() {
    if (built == null && skipped == null) {
      Path out = Path.of("target", "kernel-emulator", "libsdpo_kernels_emu.so").toAbsolutePath();
      skipped = KernelEmulator.build(Path.of("build-emulator.sh"), out);
      if (skipped == null) {
        built = out;
      }
    }
    Assumptions.assumeTrue(built != null, () -> skipped);
    return built;
  }

  static KernelEmulator emulator(KernelEmulator.Order order) {
    return KernelEmulator.load(path(), order);
  }
}
