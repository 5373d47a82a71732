package org.sdpo.tensor.cuda;

import org.sdpo.tensor.Backend;
import org.sdpo.tensor.BackendProvider;

/** {@code --device cuda}: the CUDA backend on GPU 0, through the NVIDIA driver and cuBLAS. */
public final class CudaBackendProvider implements BackendProvider {
  @Override
  public String device() {
    return "cuda";
  }

  @Override
  public Backend open() {
    return new CudaBackend(JnaDriver.open(), CudaBackend.configuredPrecision());
  }

  /**
   * {@code --device cuda-fake}: the same backend on {@link FakeDevice}, a device in host memory
   * whose kernels are Java twins. Slow; for testing the CUDA backend's host side without a GPU.
   * {@code SDPO_FAKE_DEVICE_MEMORY_MB} (or {@code -Dsdpo.fakeDeviceMemoryMb}) gives it that much
   * memory, to see what a command does on a card that is too small.
   */
  public static final class Fake implements BackendProvider {
    @Override
    public String device() {
      return "cuda-fake";
    }

    @Override
    public Backend open() {
      FakeDevice d = new FakeDevice();
      d.limitMemory(configuredMemory());
      return new CudaBackend(d, CudaBackend.configuredPrecision());
    }

    /** The fake device's memory asked for, in bytes (0: unlimited). */
    static long configuredMemory() {
      String v = System.getProperty("sdpo.fakeDeviceMemoryMb",
          System.getenv("SDPO_FAKE_DEVICE_MEMORY_MB"));
      if (v == null || v.isBlank()) {
        return 0;
      }
      double mb;
      try {
        mb = Double.parseDouble(v.strip());
      } catch (NumberFormatException e) {
        mb = Double.NaN;
      }
      if (!(mb >= 0) || Double.isInfinite(mb)) {
        throw new IllegalArgumentException("SDPO_FAKE_DEVICE_MEMORY_MB must be a number of MiB "
            + ">= 0, got '" + v + "'");
      }
      return Math.round(mb * (1 << 20));
    }
  }
}
