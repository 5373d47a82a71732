package org.sdpo.tensor.cuda;

import java.util.List;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;
import org.sdpo.tensor.BackendConformanceTest;

/**
 * The CUDA backend's every method, run on the fake device (its kernels' Java twins, cuBLAS's
 * conventions emulated), against the reference backend: the same suite the CPU backend passes.
 */
class FakeDeviceConformanceTest {
  @TestFactory
  List<DynamicTest> everyMethodMatchesTheReference() {
    return BackendConformanceTest.conformance(
        new CudaBackend(new FakeDevice(), CudaBackend.Precision.FP32), Integer.getInteger("examples", 25));
  }
}
