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
      d.limitMemory(Math.max(0, CudaOptions.mebibytes("sdpo.fakeDeviceMemoryMb",
          "SDPO_FAKE_DEVICE_MEMORY_MB", " (0: as much as the host gives)")));
      return new CudaBackend(d, CudaBackend.configuredPrecision());
    }
  }
}
