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
   */
  public static final class Fake implements BackendProvider {
    @Override
    public String device() {
      return "cuda-fake";
    }

    @Override
    public Backend open() {
      return new CudaBackend(new FakeDevice(), CudaBackend.configuredPrecision());
    }
  }
}
