package org.sdpo.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.sdpo.tensor.Backend;
import org.sdpo.tensor.Backends;
import org.sdpo.tensor.DType;
import org.sdpo.tensor.cuda.CudaBackend;
import org.sdpo.tensor.cuda.FakeDevice;
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
    Path lib = emulatorLibrary();
    System.setProperty("sdpo.kernelEmulator", lib.toString());
    try {
      assertThat(check()).isZero();
    } finally {
      System.clearProperty("sdpo.kernelEmulator");
    }
  }

  /**
   * Three float32 training steps of GPT-2 and Llama (probabilities and flash form) with the
   * kernels emulated, resuming threads forward and then in reverse: the same bits, as a kernel
   * without a race between its threads gives (a race in general gives other values in the two).
   */
  @Test
  void theTwoEmulatedOrdersTrainToTheSameBits() throws Exception {
    Path lib = emulatorLibrary();
    Backend before = Backends.current();
    try {
      Backends.install(org.sdpo.tensor.TestBackends.reference());
      for (String f : new String[] {"gpt2-tiny", "llama-gqa"}) {
        for (boolean flash : new boolean[] {false, true}) {
          GpuCheck.Grads[] runs = new GpuCheck.Grads[2];
          for (KernelEmulator.Order o : KernelEmulator.Order.values()) {
            CudaBackend gpu = new CudaBackend(new FakeDevice(null, KernelEmulator.load(lib, o)),
                CudaBackend.Precision.FP32);
            Path dir = FIXTURES.resolve(f);
            runs[o.ordinal()] = GpuCheck.on(gpu, () -> flash
                ? GpuCheck.flash(() -> GpuCheck.train(dir, DType.FLOAT32))
                : GpuCheck.train(dir, DType.FLOAT32));
          }
          assertThat(GpuCheck.compare(runs[1], runs[0].values(), 0)).as(f + (flash ? ", flash"
              : "")).isEqualTo("identical");
        }
      }
    } finally {
      Backends.install(before);
    }
  }

  private static Path emulatorLibrary() {
    Path lib = Path.of("target", "kernel-emulator", "libsdpo_kernels_emu.so").toAbsolutePath();
    String skipped = KernelEmulator.build(Path.of("../tensor-cuda/build-emulator.sh"), lib);
    Assumptions.assumeTrue(skipped == null, skipped);
    return lib;
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
