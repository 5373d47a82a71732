package org.sdpo.tensor.cuda;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.sdpo.tensor.Backend;
import org.sdpo.tensor.Backends;
import org.sdpo.tensor.CapturedStep;
import org.sdpo.tensor.DType;
import org.sdpo.tensor.Tensor;

/** What the fake device refuses, as a GPU would, and its graphs. */
class FakeDeviceTest {

  @Test
  void freshMemoryHoldsNaNsAsAGpuHoldsGarbage() {
    FakeDevice d = new FakeDevice();
    long a = d.alloc(16);
    ByteBuffer host = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN);
    d.toHost(host, a);
    for (int i = 0; i < 4; i++) {
      assertThat(host.getFloat(4 * i)).isNaN(); // a kernel that reads before writing reads NaN
    }
  }

  @Test
  void anAccessOutsideEveryAllocationFails() {
    FakeDevice d = new FakeDevice();
    long a = d.alloc(16);
    d.alloc(16);
    // a kernel told there are 5 floats where 4 were allocated runs into the gap
    assertThatThrownBy(() -> d.launch(new KernelArgs("ema_f32").i32(5).f64(0.5).ptr(a).ptr(a),
        1, 256)).hasMessageContaining("outside every allocation");
  }

  @Test
  void anAccessPastTheEndOfAPoolBlockFailsInsideOneAllocation() {
    FakeDevice d = new FakeDevice();
    DevicePool pool = new DevicePool(d);
    long a = pool.takeScratch(512);
    long b = pool.takeScratch(512);
    assertThat(b).isEqualTo(a + 512); // carved from the same chunk
    assertThat(pool.chunks()).isEqualTo(1);
    // 129 floats from a: the last one lies in the next block
    assertThatThrownBy(() -> d.launch(new KernelArgs("ema_f32").i32(129).f64(0.5).ptr(a).ptr(a),
        1, 256)).hasMessageContaining("runs past the end of its block");
    d.launch(new KernelArgs("ema_f32").i32(128).f64(0.5).ptr(a).ptr(a), 1, 256);
  }

  @Test
  void aRowKernelLaunchedWithTheWrongBlockSizeFails() {
    FakeDevice d = new FakeDevice();
    long x = d.alloc(64);
    assertThatThrownBy(() -> d.launch(new KernelArgs("softmax_f32").i32(1).i32(4).ptr(x).ptr(x),
        1, 128)).hasMessageContaining("needs 256 threads");
  }

  @Test
  void cublasLeadingDimensionsAreChecked() {
    FakeDevice d = new FakeDevice();
    long a = d.alloc(4 * 6);
    assertThatThrownBy(() -> d.gemm(CudaDriver.GemmType.F32, false, false, 3, 2, 1, 1, a, 2, 0,
        a, 1, 0, 0, a, 3, 0, 1)).hasMessageContaining("CUBLAS_STATUS_INVALID_VALUE");
  }

  /**
   * Scratch given back while a step is recorded stays the step's (each replay writes it again)
   * until the step is closed; replays take nothing. Only the caller's tensors exist here, so the
   * pool's bytes in use move only with what the recording holds.
   */
  @Test
  void aRecordedStepHoldsItsScratchUntilClosed() {
    CudaBackend be = new CudaBackend(new FakeDevice(), CudaBackend.Precision.FP32);
    Backend cpu = Backends.install(be);
    try {
      Tensor a = Tensor.of(DType.FLOAT32, new double[] {3, 4}, 2);
      Tensor norm = Tensor.empty(DType.FLOAT64);
      long before = be.inUseBytes();
      CapturedStep g = be.captureStep(() -> be.clipByGlobalNorm(List.of(a), 1.0, norm));
      long recorded = be.inUseBytes();
      assertThat(recorded).as("the partial sums and the decision, held").isGreaterThan(before);
      assertThat(a.toDoubleArray()).as("recorded, not run").containsExactly(3, 4);
      g.replay();
      assertThat(norm.item()).isEqualTo(5.0);
      assertThat(a.toDoubleArray()[0]).isCloseTo(0.6, within(1e-6));
      g.replay(); // the norm is 1 now: nothing to scale
      assertThat(norm.item()).isCloseTo(1.0, within(1e-6));
      assertThat(be.inUseBytes()).as("replays take nothing").isEqualTo(recorded);
      g.close();
      assertThat(be.inUseBytes()).as("closing gives everything held back").isEqualTo(before);
    } finally {
      Backends.install(cpu);
    }
  }

  @Test
  void recordingIsOnUnlessTheSwitchSaysFalseOrZero() {
    String before = System.getProperty("sdpo.cuda.graphs");
    try {
      for (String v : new String[] {"false", "FALSE", "0"}) {
        System.setProperty("sdpo.cuda.graphs", v);
        assertThat(CudaBackend.graphsWanted()).as(v).isFalse();
        assertThat(new CudaBackend(new FakeDevice(), CudaBackend.Precision.FP32)
            .canCaptureSteps()).as(v).isFalse();
      }
      for (String v : new String[] {"true", "1"}) {
        System.setProperty("sdpo.cuda.graphs", v);
        assertThat(CudaBackend.graphsWanted()).as(v).isTrue();
      }
    } finally {
      if (before == null) {
        System.clearProperty("sdpo.cuda.graphs");
      } else {
        System.setProperty("sdpo.cuda.graphs", before);
      }
    }
  }

  @Test
  void aGraphRecordsLaunchesAndReplaysThem() {
    FakeDevice d = new FakeDevice();
    long t = d.alloc(8);
    long s = d.alloc(8);
    ByteBuffer ones = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putFloat(1).putFloat(1)
        .flip();
    d.toDevice(s, ones);
    d.zero(t, 8);
    d.beginCapture();
    d.launch(new KernelArgs("ema_f32").i32(2).f64(0.5).ptr(t).ptr(s), 1, 256);
    assertThatThrownBy(() -> d.toHost(ByteBuffer.allocate(8), t))
        .hasMessageContaining("during graph capture");
    CudaDriver.Graph g = d.endCapture();
    assertThat(g.launches()).isEqualTo(1);
    ByteBuffer out = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
    d.toHost(out, t);
    assertThat(out.getFloat(0)).isZero(); // captured, not run
    d.replay(g);
    d.replay(g);
    d.toHost(out, t);
    assertThat(out.getFloat(0)).isEqualTo(0.75f);
  }

  @Test
  void aSteadyStepReusesTheSameDeviceMemory() {
    FakeDevice d = new FakeDevice();
    CudaBackend be = new CudaBackend(d, CudaBackend.Precision.FP32);
    Backend cpu = Backends.install(be);
    try {
      long before = 0;
      for (int step = 0; step < 30; step++) {
        Tensor a = Tensor.ones(DType.FLOAT32, 64, 32);
        Tensor b = a.matmul(a.transpose(0, 1)).add(1.0);
        assertThat(b.get(0, 0)).isEqualTo(33.0);
        if (step == 10) {
          System.gc();
          before = be.reservedBytes();
        }
        if (step % 5 == 0) {
          System.gc();
        }
      }
      assertThat(be.reservedBytes()).as("device bytes held after 20 more steps")
          .isLessThanOrEqualTo(before + 64 * 64 * 4 * 4);
      assertThat(be.driverAllocations()).as("one driver allocation, the first chunk").isEqualTo(1);
    } finally {
      Backends.install(cpu);
    }
  }

  @Test
  void hostBuffersAreRefusedWithAMessage() {
    CudaBackend be = new CudaBackend(new FakeDevice(), CudaBackend.Precision.FP32);
    Tensor t = Tensor.ofStorage(be.allocate(DType.FLOAT32, new int[] {2}), DType.FLOAT32, 2);
    assertThatThrownBy(() -> be.buffer(t)).isInstanceOf(UnsupportedOperationException.class)
        .hasMessageContaining("device memory");
  }
}
