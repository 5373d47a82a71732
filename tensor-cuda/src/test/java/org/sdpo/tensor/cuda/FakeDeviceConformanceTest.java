package org.sdpo.tensor.cuda;

import java.util.List;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;
import org.sdpo.tensor.BackendConformanceTest;

/**
 * The CUDA backend's every method, run on the fake device (its kernels' Java twins, cuBLAS's
 * conventions emulated), against the reference backend: the same suite the CPU backend passes.
 * Once more with attention's products reading and writing heads in place at every size
 * ({@code SDPO_CUDA_HEADS_IN_PLACE=1}), which by default only the large shapes of a GPU do.
 */
class FakeDeviceConformanceTest {
  @TestFactory
  List<DynamicTest> everyMethodMatchesTheReference() {
    return BackendConformanceTest.conformance(
        new CudaBackend(new FakeDevice(), CudaBackend.Precision.FP32), Integer.getInteger("examples", 25));
  }

  @TestFactory
  List<DynamicTest> withHeadsReadInPlaceAtEverySize() {
    return BackendConformanceTest.conformance(headsInPlace(CudaBackend.Precision.FP32), 10);
  }

  /** A backend on a fake device whose attention takes heads in place at every size. */
  static CudaBackend headsInPlace(CudaBackend.Precision precision) {
    System.setProperty("sdpo.cuda.headsInPlace", "1");
    try {
      return new CudaBackend(new FakeDevice(), precision);
    } finally {
      System.clearProperty("sdpo.cuda.headsInPlace");
    }
  }
}
