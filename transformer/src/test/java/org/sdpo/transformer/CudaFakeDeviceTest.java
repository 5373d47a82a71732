package org.sdpo.transformer;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.Callable;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.sdpo.autograd.F;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.Backend;
import org.sdpo.tensor.Backends;
import org.sdpo.tensor.DType;
import org.sdpo.tensor.Tensor;
import org.sdpo.tensor.cuda.CudaBackend;
import org.sdpo.tensor.cuda.FakeDevice;
import org.sdpo.transformer.io.Checkpoint;
import org.sdpo.transformer.train.AdamW;
import org.sdpo.transformer.train.GradClip;

/**
 * The CUDA backend end to end, on the fake device (host memory, the kernels' Java twins, cuBLAS's
 * calling conventions): GPT-2, Llama and Qwen3 forward and backward against the PyTorch fixtures
 * with the same tolerances as on the CPU, and three training steps (loss, backward, clipping,
 * AdamW) that end where the CPU backend's end. What this covers without a GPU: argument packing,
 * strides and views, launch shapes, the matrix multiply's column-major mapping and the memory
 * pool; what it cannot: the CUDA code's own arithmetic (tools/gpu-check.sh, on a GPU).
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
  @ValueSource(strings = {"gpt2-tiny", "llama-gqa", "qwen3-qknorm"})
  void matchesPyTorchInFloat64(String fixture) throws Exception {
    onFakeDevice(() -> {
      GptParityTest.check(FIXTURES.resolve(fixture), DType.FLOAT64, "expected_f64.safetensors",
          1e-9);
      return null;
    });
  }

  @ParameterizedTest
  @ValueSource(strings = {"gpt2-tiny", "qwen2-bias"})
  void matchesPyTorchInFloat32(String fixture) throws Exception {
    onFakeDevice(() -> {
      GptParityTest.check(FIXTURES.resolve(fixture), DType.FLOAT32, "expected_f32.safetensors",
          1e-4);
      return null;
    });
  }

  /** Three steps of training on the fixture's batch; the parameters after them, on the host. */
  static Map<String, double[]> train(Path fixture, DType dtype) throws Exception {
    CausalLm model = Checkpoint.load(fixture, dtype);
    GptParityTest.Batch b = GptParityTest.batch(fixture);
    AdamW opt = new AdamW(model.namedParameters(), AdamW.Settings.gpt());
    Tensor mask = Tensor.of(dtype, b.mask(), b.B(), b.T());
    for (int step = 0; step < 3; step++) {
      Variable logits = model.forward(b.ids(), b.B(), b.T(), mask, b.pos(), null);
      F.crossEntropy(F.reshape(logits, b.B() * b.T(), -1), b.labels(), -100).backward();
      GradClip.clip(model.namedParameters().values(), 1.0);
      opt.step(1e-2);
      model.zeroGrad();
    }
    Map<String, double[]> out = new java.util.TreeMap<>();
    model.namedParameters().forEach((k, v) -> out.put(k, v.value().toDoubleArray()));
    return out;
  }

  @Test
  void threeTrainingStepsEndWhereTheCpuEnds() throws Exception {
    for (String fixture : new String[] {"gpt2-tiny", "llama-gqa"}) {
      Path dir = FIXTURES.resolve(fixture);
      Map<String, double[]> cpu = train(dir, DType.FLOAT64);
      Map<String, double[]> gpu = onFakeDevice(() -> train(dir, DType.FLOAT64));
      assertThat(gpu.keySet()).isEqualTo(cpu.keySet());
      for (String k : cpu.keySet()) {
        double[] a = cpu.get(k);
        double[] g = gpu.get(k);
        double scale = 0;
        double diff = 0;
        for (int i = 0; i < a.length; i++) {
          scale = Math.max(scale, Math.abs(a[i]));
          diff = Math.max(diff, Math.abs(a[i] - g[i]));
        }
        assertThat(diff / scale).as(fixture + " " + k).isLessThan(1e-9);
      }
    }
  }
}
