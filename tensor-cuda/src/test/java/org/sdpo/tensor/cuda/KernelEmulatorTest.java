package org.sdpo.tensor.cuda;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.sun.jna.Memory;
import com.sun.jna.Pointer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The kernel emulator itself, on the kernels of {@code src/test/emulator/selftest_kernels.cu}:
 * barriers, shuffles and a WMMA product give what CUDA defines, and each rule it checks fails a
 * kernel that breaks it (a divergent barrier, different barriers, a shuffle half a warp skips, a
 * partial warp's shuffle, a deadlock, an unaligned or divergent WMMA load, a write past the end),
 * and a race gives different bits in the two orders.
 */
class KernelEmulatorTest {

  private static Memory params(Pointer... pointers) {
    Memory m = new Memory(8L * Math.max(1, pointers.length));
    for (int i = 0; i < pointers.length; i++) {
      m.setPointer(8L * i, pointers[i]);
    }
    return m;
  }

  /** Runs a one-pointer kernel over grid x block threads and returns its n ints. */
  private static int[] run(KernelEmulator e, String kernel, int grid, int block, int n) {
    Pointer out = KernelEmulator.alloc(4L * n);
    try {
      out.clear(4L * n);
      e.launchRaw(kernel, grid, block, params(out));
      assertThat(KernelEmulator.intact(out)).isTrue();
      return out.getIntArray(0, n);
    } finally {
      KernelEmulator.free(out);
    }
  }

  @ParameterizedTest
  @EnumSource(KernelEmulator.Order.class)
  void shufflesExchangeAsCudaDefinesThem(KernelEmulator.Order order) {
    KernelEmulator e = EmulatorLibrary.emulator(order);
    int[] out = run(e, "emu_test_shuffles", 2, 64, 3 * 128);
    for (int t = 0; t < 128; t++) {
      assertThat(out[3 * t]).as("xor butterfly, thread %d", t).isEqualTo(496);
      assertThat(out[3 * t + 1]).as("shuffles down and broadcast, thread %d", t).isEqualTo(496);
      assertThat(out[3 * t + 2]).as("shfl from the next lane, thread %d", t)
          .isEqualTo((t % 32 + 1) % 32);
    }
  }

  @ParameterizedTest
  @EnumSource(KernelEmulator.Order.class)
  void aBarrierOrdersSharedMemory(KernelEmulator.Order order) {
    int[] out = run(EmulatorLibrary.emulator(order), "emu_test_barrier", 3, 256, 3 * 256);
    for (int t = 0; t < out.length; t++) {
      assertThat(out[t]).isEqualTo((t % 256 + 1) % 256);
    }
  }

  @Test
  void aRaceGivesDifferentResultsInTheTwoOrders() {
    int[] forward = run(EmulatorLibrary.emulator(KernelEmulator.Order.FORWARD), "emu_test_race",
        2, 128, 256);
    int[] reverse = run(EmulatorLibrary.emulator(KernelEmulator.Order.REVERSE), "emu_test_race",
        2, 128, 256);
    assertThat(forward).isNotEqualTo(reverse);
  }

  @Test
  void aThreadThatSkipsABarrierFailsTheLaunch() {
    KernelEmulator e = EmulatorLibrary.emulator(KernelEmulator.Order.FORWARD);
    assertThatThrownBy(() -> run(e, "emu_test_divergent_barrier", 1, 64, 64))
        .hasMessageContaining("emu_test_divergent_barrier")
        .hasMessageContaining("exited while 32 threads wait at __syncthreads");
    // in reverse the skipping threads exit first, before the others reach the barrier
    KernelEmulator r = EmulatorLibrary.emulator(KernelEmulator.Order.REVERSE);
    assertThatThrownBy(() -> run(r, "emu_test_divergent_barrier", 1, 64, 64))
        .hasMessageContaining("after 32 threads of the block exited");
  }

  @Test
  void aBlockThatCannotGoOnIsADeadlock() {
    KernelEmulator e = EmulatorLibrary.emulator(KernelEmulator.Order.FORWARD);
    assertThatThrownBy(() -> run(e, "emu_test_deadlock", 1, 64, 64))
        .hasMessageContaining("block 0 deadlocked");
  }

  @Test
  void wmmaChecksAlignmentAndThatTheWarpAgrees() {
    KernelEmulator e = EmulatorLibrary.emulator(KernelEmulator.Order.FORWARD);
    assertThatThrownBy(() -> run(e, "emu_test_wmma_misaligned", 1, 32, 32))
        .hasMessageContaining("a wmma pointer not 32-byte aligned");
    assertThatThrownBy(() -> run(e, "emu_test_wmma_divergent", 1, 32, 32))
        .hasMessageContaining("called load_matrix_sync")
        .hasMessageContaining("with another pointer or stride than lane 0");
  }

  @ParameterizedTest
  @EnumSource(KernelEmulator.Order.class)
  void aWmmaProductIsTheProduct(KernelEmulator.Order order) {
    Pointer out = KernelEmulator.alloc(4L * 256);
    try {
      EmulatorLibrary.emulator(order).launchRaw("emu_test_wmma_product", 1, 32, params(out));
      float[] v = out.getFloatArray(0, 256);
      for (int m = 0; m < 16; m++) {
        for (int n = 0; n < 16; n++) {
          assertThat(v[16 * m + n]).as("(%d, %d)", m, n).isEqualTo(1 + 16f * (m + 1) * (n + 1));
        }
      }
    } finally {
      KernelEmulator.free(out);
    }
  }

  @Test
  void threadsAtDifferentBarriersFailTheLaunch() {
    KernelEmulator e = EmulatorLibrary.emulator(KernelEmulator.Order.FORWARD);
    assertThatThrownBy(() -> run(e, "emu_test_two_barriers", 1, 64, 64))
        .hasMessageContaining("reached __syncthreads at line");
  }

  @ParameterizedTest
  @EnumSource(KernelEmulator.Order.class)
  void aShuffleHalfAWarpSkipsFailsTheLaunch(KernelEmulator.Order order) {
    // forward: lanes 0-15 wait and 16-31 exit; reverse: 31-16 exit before 15-0 arrive
    assertThatThrownBy(() -> run(EmulatorLibrary.emulator(order), "emu_test_half_warp_shuffle",
        1, 32, 32)).hasMessageContaining("exited").hasMessageContaining("shuffle");
  }

  @Test
  void aShuffleInAPartialWarpFailsTheLaunch() {
    KernelEmulator e = EmulatorLibrary.emulator(KernelEmulator.Order.FORWARD);
    assertThatThrownBy(() -> run(e, "emu_test_shuffles", 1, 48, 3 * 48))
        .hasMessageContaining("in a warp of 16 lanes");
  }

  @Test
  void sharedMemoryABlockDidNotWriteReadsAsNaN() {
    KernelEmulator e = EmulatorLibrary.emulator(KernelEmulator.Order.FORWARD);
    for (int launch = 0; launch < 2; launch++) { // the second launch sees none of the first's
      Pointer out = KernelEmulator.alloc(4L * 128);
      try {
        e.launchRaw("emu_test_unwritten_shared", 2, 64, params(out));
        float[] v = out.getFloatArray(0, 128);
        for (int t = 0; t < 128; t++) {
          if (t % 64 < 32) {
            assertThat(v[t]).as("thread %d", t).isEqualTo(1.0f);
          } else {
            assertThat(v[t]).as("thread %d", t).isNaN();
          }
        }
      } finally {
        KernelEmulator.free(out);
      }
    }
  }

  @Test
  void aWritePastTheEndBreaksTheGuard() {
    KernelEmulator e = EmulatorLibrary.emulator(KernelEmulator.Order.FORWARD);
    Pointer out = KernelEmulator.alloc(4L * 5);
    try {
      Memory p = new Memory(16);
      p.setInt(0, 5);
      p.setPointer(8, out);
      e.launchRaw("emu_test_overrun", 1, 32, p);
      assertThat(KernelEmulator.intact(out)).isFalse();
    } finally {
      KernelEmulator.free(out);
    }
  }

  @Test
  void aKernelWritingPastItsTensorOnTheFakeDeviceFailsNamingTheParameter() {
    FakeDevice d = new FakeDevice(null, EmulatorLibrary.emulator(KernelEmulator.Order.FORWARD));
    long t = d.alloc(12); // 3 floats; the kernel is told 4: the fourth lands in the guard bytes
    long s = d.alloc(16);
    assertThatThrownBy(() -> d.launch(new KernelArgs("ema_f32").i32(4).f64(0.5).ptr(t).ptr(s), 1,
        256)).hasMessageContaining("ema_f32 wrote outside the 12-byte block")
        .hasMessageContaining("its parameter t points into");
  }

  @Test
  void anUnknownKernelIsAOneLineError() {
    KernelEmulator e = EmulatorLibrary.emulator(KernelEmulator.Order.FORWARD);
    assertThatThrownBy(() -> e.launchRaw("no_such_kernel", 1, 32, params()))
        .hasMessage("kernel emulator: no kernel named no_such_kernel");
  }

  @Test
  void everyKernelOfTheSourceIsInTheEmulator() {
    KernelEmulator e = EmulatorLibrary.emulator(KernelEmulator.Order.FORWARD);
    for (String k : KernelSource.signatures().keySet()) {
      // a launch with no blocks is refused after the name is found: the message says which
      assertThatThrownBy(() -> e.launchRaw(k, 0, 32, params()))
          .as(k).hasMessageContaining("launch of " + k + " with grid 0");
    }
  }
}
