package org.sdpo.transformer;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.concurrent.Callable;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.sdpo.tensor.Backend;
import org.sdpo.tensor.Backends;
import org.sdpo.tensor.DType;
import org.sdpo.tensor.cuda.CudaBackend;
import org.sdpo.tensor.cuda.FakeDevice;

/**
 * The CUDA backend end to end, on the fake device (host memory, the kernels' Java twins, cuBLAS's
 * calling conventions): GPT-2, Llama, Qwen3, Gemma 3 and OLMo 2 forward and backward against the
 * PyTorch fixtures with the same tolerances as on the CPU (training steps on it: cli's
 * GpuCheckTest). What this covers without a GPU: argument packing, strides and views, launch
 * shapes, the matrix multiply's column-major mapping and the memory pool. The CUDA source's own
 * arithmetic runs on the CPU in the kernel emulator (tensor-cuda's EmulatedConformanceTest, cli's
 * GpuCheckTest; this test too with SDPO_KERNEL_EMULATOR set); what the device's compiler and hardware do, only a GPU shows
 * (tools/gpu-check.sh).
 */
class CudaFakeDeviceTest {
  static final Path FIXTURES = Path.of("src/test/resources/fixtures");

  /** Runs {@code body} with a fresh CUDA backend on a fake device, then restores the CPU's. */
  static <T> T onFakeDevice(Callable<T> body) throws Exception {
    Backend cpu = Backends.current();
    FakeDevice device = new FakeDevice();
    Backends.install(new CudaBackend(device, CudaBackend.Precision.FP32));
    try {
      T result = body.call();
      // the work ran on the device: kernels and matrix multiplies, not the CPU backend
      assertThat(device.launches()).as("launches on the fake device").isGreaterThan(100);
      return result;
    } finally {
      Backends.install(cpu);
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"gpt2-tiny", "llama-gqa", "qwen3-qknorm", "gemma3-sandwich",
      "olmo2-postnorm"})
  void matchesPyTorchInFloat64(String fixture) throws Exception {
    onFakeDevice(() -> {
      GptParityTest.check(FIXTURES.resolve(fixture), DType.FLOAT64, "expected_f64.safetensors",
          1e-9);
      return null;
    });
  }

  @ParameterizedTest
  @ValueSource(strings = {"gpt2-tiny", "qwen2-bias", "gemma3-sandwich"})
  void matchesPyTorchInFloat32(String fixture) throws Exception {
    onFakeDevice(() -> {
      GptParityTest.check(FIXTURES.resolve(fixture), DType.FLOAT32, "expected_f32.safetensors",
          1e-4);
      return null;
    });
  }
}
