package org.sdpo.tensor.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;
import org.sdpo.tensor.Backend;
import org.sdpo.tensor.Backends;
import org.sdpo.tensor.CapturedStep;
import org.sdpo.tensor.DType;
import org.sdpo.tensor.Tensor;

/** The kernel profile ({@code SDPO_CUDA_PROFILE=1}): one row per name, largest total first. */
class KernelProfileTest {

  @Test
  void theTableSortsByTotalTimeAndFoldsTheRest() {
    KernelProfile p = new KernelProfile();
    p.add("small", 1.0); // each name's first call: kept apart
    p.add("small", 1.0);
    p.add("large", 100.0);
    p.add("large", 3.0);
    p.add("large", 5.0);
    p.add("tiny", 0.5);
    p.add("tiny", 0.5);
    assertThat(p.calls("large")).isEqualTo(3);
    assertThat(p.totalMs()).isEqualTo(9.5);
    String report = p.report(2);
    assertThat(report).contains("9.5 ms in 3 names");
    assertThat(report.indexOf("large")).isLessThan(report.indexOf("small"));
    // large: mean 4 ms over the 2 calls after the first, 8 of 9.5 ms; its first call 100 ms
    assertThat(report).contains("4000.0").contains("84.2%").contains("100000.0");
    assertThat(report).doesNotContain("tiny").contains("(1 others)");
  }

  @Test
  void byGridEachSizeOfALaunchHasItsRow() {
    KernelProfile p = new KernelProfile(true);
    FakeDevice dev = new FakeDevice(p);
    long x = dev.alloc(4L * 1000);
    dev.launch(new KernelArgs("ema_f32").i32(1000).f64(0.5).ptr(x).ptr(x), 4, 256);
    dev.launch(new KernelArgs("ema_f32").i32(100).f64(0.5).ptr(x).ptr(x), 1, 256);
    assertThat(p.calls("ema_f32 (grid 4)")).isEqualTo(1);
    assertThat(p.calls("ema_f32 (grid 1)")).isEqualTo(1);
    assertThat(new KernelProfile().launchName("ema_f32", 4)).isEqualTo("ema_f32");
  }

  @Test
  void everyLaunchAndMultiplyOfTheFakeDeviceIsTimedUnderItsNameAndAReplayAsOne() {
    KernelProfile p = new KernelProfile();
    FakeDevice dev = new FakeDevice(p);
    Backend b = new CudaBackend(dev, CudaBackend.Precision.FP32, true);
    Backend cpu = Backends.install(b);
    try {
      Tensor x = Tensor.of(DType.FLOAT32, new double[] {1, 2, 3, 4, 5, 6}, 2, 3);
      Tensor y = Tensor.zeros(DType.FLOAT32, 2, 2);
      b.matmul(x, x, y, false, true);
      b.softmax(y, y);
      b.softmax(y, y);
      assertThat(p.calls("softmax_f32")).isEqualTo(2);
      assertThat(p.report(50)).contains("cuBLAS gemm f32");
      long gemms = p.report(50).lines().filter(l -> l.contains("cuBLAS gemm f32")).count();
      assertThat(gemms).isEqualTo(1);
      try (CapturedStep g = b.captureStep(() -> b.softmax(y, y))) {
        g.replay();
        g.replay();
        assertThat(p.calls("softmax_f32")).as("recorded work is timed as its replays")
            .isEqualTo(2);
        assertThat(p.calls("graph replay (1 launches)")).isEqualTo(2);
      }
    } finally {
      Backends.install(cpu);
    }
  }
}
