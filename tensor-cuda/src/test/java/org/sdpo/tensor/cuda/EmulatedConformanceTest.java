package org.sdpo.tensor.cuda;

import java.util.List;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;
import org.sdpo.tensor.BackendConformanceTest;

/**
 * The CUDA backend's every method with its kernels run as their CUDA source on the host (the
 * kernel emulator, in both orders of resuming threads), against the reference backend: the
 * suite the CPU backend and the Java twins pass, now checking the kernels' own index
 * arithmetic, shared memory, barriers and shuffles. Skipped where the emulator cannot be built.
 */
class EmulatedConformanceTest {
  @TestFactory
  List<DynamicTest> forwardOrder() {
    return suite(KernelEmulator.Order.FORWARD);
  }

  @TestFactory
  List<DynamicTest> reverseOrder() {
    return suite(KernelEmulator.Order.REVERSE);
  }

  private static List<DynamicTest> suite(KernelEmulator.Order order) {
    KernelEmulator e = EmulatorLibrary.emulator(order);
    return BackendConformanceTest.conformance(
        new CudaBackend(new FakeDevice(null, e), CudaBackend.Precision.FP32),
        Integer.getInteger("examples", 25));
  }
}
