package org.sdpo.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.sdpo.tensor.Backend;
import org.sdpo.tensor.Backends;
import org.sdpo.tensor.cuda.KernelEmulator;

/**
 * The GPU check (tools/gpu-check.sh) end to end on the fake device: the same checks a GPU
 * machine runs, so the script's correctness part is known to work before it reaches one. Once
 * with the kernels' Java twins, once with the kernels' CUDA source run on the host (the kernel
 * emulator; skipped, with the reason, where it cannot be built).
 */
class GpuCheckTest {
  private static final Path FIXTURES = Path.of("../transformer/src/test/resources/fixtures");

  @Test
  void passesOnTheFakeDevice() {
    assertThat(check()).isZero();
  }

  @Test
  void passesWithTheKernelsEmulated() {
    Path lib = Path.of("target", "kernel-emulator", "libsdpo_kernels_emu.so").toAbsolutePath();
    String skipped = KernelEmulator.build(Path.of("../tensor-cuda/build-emulator.sh"), lib);
    Assumptions.assumeTrue(skipped == null, skipped);
    System.setProperty("sdpo.kernelEmulator", lib.toString());
    try {
      assertThat(check()).isZero();
    } finally {
      System.clearProperty("sdpo.kernelEmulator");
    }
  }

  private static int check() {
    Backend before = Backends.current();
    try {
      return new GpuCheck().run(p -> GpuCheck.backend(true, p), 3, FIXTURES);
    } finally {
      Backends.install(before);
    }
  }
}
