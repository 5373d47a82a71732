package org.sdpo.tensor;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;

class CudaDeviceCheckTest {

  @Test
  void refusesHopperAndAcceptsAmpereAndAda() {
    List<CudaDeviceCheck.Gpu> h100 = CudaDeviceCheck.parse(List.of("NVIDIA H100 80GB HBM3, 9.0"));
    assertThat(h100).containsExactly(new CudaDeviceCheck.Gpu("NVIDIA H100 80GB HBM3", 9, 0));
    assertThat(CudaDeviceCheck.refusal(h100))
        .contains("NVIDIA H100 80GB HBM3", "9.0", "3.7 to 8.9", "without -Pcuda");
    assertThat(CudaDeviceCheck.refusal(CudaDeviceCheck.parse(List.of("NVIDIA A100-SXM4-40GB, 8.0"))))
        .isNull();
    assertThat(CudaDeviceCheck.refusal(CudaDeviceCheck.parse(List.of("NVIDIA L4, 8.9")))).isNull();
    assertThat(CudaDeviceCheck.refusal(CudaDeviceCheck.parse(List.of("Tesla K20, 3.5"))))
        .contains("3.5");
    assertThat(CudaDeviceCheck.refusal(List.of())).contains("no NVIDIA GPU");
  }

  @Test
  void parsesSeveralGpusAndSkipsGarbage() {
    List<CudaDeviceCheck.Gpu> gpus = CudaDeviceCheck.parse(
        List.of("NVIDIA RTX A6000, 8.6", "garbage", "Name, with comma, 7.5", "X, n/a"));
    assertThat(gpus).hasSize(2);
    assertThat(gpus.get(1).name()).isEqualTo("Name, with comma");
  }

  @Test
  void cpuBuildHasNoCudaBackend() {
    assertThat(CudaDeviceCheck.cudaBackendPresent()).isFalse();
  }
}
