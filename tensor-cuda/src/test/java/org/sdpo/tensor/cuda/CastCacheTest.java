package org.sdpo.tensor.cuda;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.function.Function;
import org.junit.jupiter.api.Test;
import org.sdpo.tensor.Backend;
import org.sdpo.tensor.Backends;
import org.sdpo.tensor.CapturedStep;
import org.sdpo.tensor.DType;
import org.sdpo.tensor.DeviceUnavailableException;
import org.sdpo.tensor.Rng;
import org.sdpo.tensor.Tensor;

/**
 * The bf16 mode's cast cache ({@link CastCache}): a tensor that enters several multiplies is
 * rounded once, and every way a tensor can change (a kernel writing it, a write through another
 * view of its memory, a recorded step's replay) makes the next multiply round it again. Each
 * scenario runs on a backend with the cache and on one without, which must agree bit for bit;
 * the fake device also compares every copy the cache hands out with a fresh rounding.
 */
class CastCacheTest {
  private static final long MIB = 1L << 20;

  /** Runs {@code scenario} on a bf16 fake device with {@code cacheBytes} of cache. */
  private static double[] run(long cacheBytes, Function<CudaBackend, Tensor> scenario,
      CudaBackend.CastStats[] stats) {
    CudaBackend be = new CudaBackend(new FakeDevice(), CudaBackend.Precision.BF16, true,
        cacheBytes);
    Backend before = Backends.install(be);
    try {
      double[] out = scenario.apply(be).toDoubleArray();
      if (stats != null) {
        stats[0] = be.castStats();
      }
      return out;
    } finally {
      Backends.install(before);
    }
  }

  private static void assertSameWithAndWithout(Function<CudaBackend, Tensor> scenario,
      CudaBackend.CastStats[] stats) {
    double[] without = run(0, scenario, null);
    double[] with = run(64 * MIB, scenario, stats);
    assertThat(with).as("with the cache, bit for bit as without").containsExactly(without);
  }

  private static Tensor gaussian(long seed, int... shape) {
    return Tensor.normal(new Rng(seed), DType.FLOAT32, 0, 1, shape);
  }

  @Test
  void aTensorInTwoMultipliesIsRoundedOnce() {
    CudaBackend.CastStats[] s = new CudaBackend.CastStats[1];
    assertSameWithAndWithout(be -> {
      Tensor x = gaussian(1, 6, 5);
      Tensor w = gaussian(2, 5, 4);
      Tensor y = x.matmul(w); // (6, 4)
      Tensor dy = gaussian(3, 6, 4);
      Tensor dx = dy.matmul(w, false, true); // dY W^T: W again
      Tensor dw = x.matmul(dy, true, false); // X^T dY: X and dY again
      return Tensor.concat(0, y.reshape(-1), dx.reshape(-1), dw.reshape(-1));
    }, s);
    assertThat(s[0].made()).as("X, W and dY rounded once each").isEqualTo(3);
    assertThat(s[0].reused()).as("W, X and dY reused").isEqualTo(3);
    assertThat(s[0].elementsReused()).isEqualTo(20 + 30 + 24);
  }

  @Test
  void theCacheIsOffOutsideTheBf16ModeAndAtABudgetOfZero() {
    CudaBackend fp32 = new CudaBackend(new FakeDevice(), CudaBackend.Precision.FP32, true, 64 * MIB);
    assertThat(fp32.description()).doesNotContain("cached");
    CudaBackend.CastStats[] s = new CudaBackend.CastStats[1];
    run(0, be -> {
      Tensor x = gaussian(1, 3, 3);
      return x.matmul(x).matmul(x);
    }, s);
    assertThat(s[0]).isEqualTo(new CudaBackend.CastStats(0, 0, 0, 0, 0));
    CudaBackend bf16 = new CudaBackend(new FakeDevice(), CudaBackend.Precision.BF16, true, 64 * MIB);
    assertThat(bf16.description()).endsWith("bf16 (operand casts cached, up to 64 MiB)");
  }

  @Test
  void aKernelWritingTheTensorMakesItRoundedAgain() {
    CudaBackend.CastStats[] s = new CudaBackend.CastStats[1];
    assertSameWithAndWithout(be -> {
      Tensor x = gaussian(1, 4, 4);
      Tensor w = gaussian(2, 4, 4);
      Tensor first = x.matmul(w);
      w.addInPlace(gaussian(3, 4, 4)); // an in-place update, as AdamW's
      Tensor second = x.matmul(w);
      x.fill(0.3);
      Tensor third = x.matmul(w);
      return Tensor.concat(0, first.reshape(-1), second.reshape(-1), third.reshape(-1));
    }, s);
    assertThat(s[0].made()).as("x, w; w again; x again").isEqualTo(4);
    assertThat(s[0].reused()).isEqualTo(2);
  }

  @Test
  void aWriteThroughAnotherViewOfTheMemoryMakesItRoundedAgain() {
    assertSameWithAndWithout(be -> {
      Tensor big = gaussian(1, 8, 4);
      Tensor top = big.slice(0, 0, 4); // (4, 4), a view
      Tensor w = gaussian(2, 4, 4);
      Tensor first = top.matmul(w);
      big.slice(0, 2, 6).fill(-1.5); // overlaps top's rows 2 and 3
      Tensor second = top.matmul(w);
      Tensor third = top.transpose(0, 1).matmul(w); // another view of the same values
      return Tensor.concat(0, first.reshape(-1), second.reshape(-1), third.reshape(-1));
    }, null);
  }

  @Test
  void aReplayWritesBehindTheCachesBackSoItIsEmptied() {
    CudaBackend.CastStats[] s = new CudaBackend.CastStats[1];
    assertSameWithAndWithout(be -> {
      Tensor w = gaussian(1, 4, 4);
      Tensor step = gaussian(2, 4, 4);
      Tensor x = gaussian(3, 4, 4);
      Tensor eager = x.matmul(w); // w's copy made before the recording
      try (CapturedStep g = be.captureStep(() -> w.addInPlace(step))) {
        g.replay(); // w changes without a line of Java touching it
        Tensor after = x.matmul(w);
        g.replay();
        Tensor afterTwo = x.matmul(w);
        return Tensor.concat(0, eager.reshape(-1), after.reshape(-1), afterTwo.reshape(-1));
      }
    }, s);
    assertThat(s[0].reused()).as("nothing reused across a replay").isZero();
  }

  @Test
  void aRecordingUsesOnlyTheCopiesItMakesItself() {
    CudaBackend.CastStats[] s = new CudaBackend.CastStats[1];
    assertSameWithAndWithout(be -> {
      Tensor w = gaussian(1, 4, 4);
      Tensor x = gaussian(2, 4, 4);
      Tensor out = Tensor.zeros(DType.FLOAT32, 4, 4);
      Tensor eager = x.matmul(w); // copies of x and w before the recording
      Tensor[] r = new Tensor[2];
      try (CapturedStep g = be.captureStep(() -> {
        r[0] = x.matmul(w); // must round x and w inside the recording
        r[1] = x.matmul(w, false, true); // may reuse those: they are the recording's
        out.assign(r[0].add(r[1]));
      })) {
        Tensor afterRecording = x.matmul(w); // not with the recording's copies (not yet written)
        for (int i = 0; i < 3; i++) {
          w.addInPlace(x); // between replays, eagerly
          g.replay();
        }
        return Tensor.concat(0, eager.reshape(-1), afterRecording.reshape(-1), out.reshape(-1));
      }
    }, s);
    assertThat(s[0].reused()).as("the second product inside the recording").isEqualTo(2);
  }

  @Test
  void aSmallBudgetEvictsTheLeastRecentlyUsedCopies() {
    CudaBackend.CastStats[] s = new CudaBackend.CastStats[1];
    // 16 x 16 bf16 = 512 bytes a copy: a 1 KiB budget holds two
    double[] with = run(1024, be -> {
      Tensor a = gaussian(1, 16, 16);
      Tensor b = gaussian(2, 16, 16);
      Tensor c = gaussian(3, 16, 16);
      Tensor ab = a.matmul(b); // keeps a, b
      Tensor bc = b.matmul(c); // b reused; c pushes a out
      Tensor ca = c.matmul(a); // c reused, a rounded again
      return Tensor.concat(0, ab.reshape(-1), bc.reshape(-1), ca.reshape(-1));
    }, s);
    assertThat(s[0].made()).isEqualTo(4);
    assertThat(s[0].reused()).isEqualTo(2);
    assertThat(s[0].bytesHeld()).isLessThanOrEqualTo(1024);
    double[] without = run(0, be -> {
      Tensor a = gaussian(1, 16, 16);
      Tensor b = gaussian(2, 16, 16);
      Tensor c = gaussian(3, 16, 16);
      return Tensor.concat(0, a.matmul(b).reshape(-1), b.matmul(c).reshape(-1),
          c.matmul(a).reshape(-1));
    }, null);
    assertThat(with).containsExactly(without);
  }

  @Test
  void copiesOfTensorsThatAreGoneAreGivenBack() throws InterruptedException {
    CudaBackend be = new CudaBackend(new FakeDevice(), CudaBackend.Precision.BF16, true, 64 * MIB);
    Backend before = Backends.install(be);
    try {
      Tensor w = gaussian(1, 32, 32);
      for (int i = 0; i < 4; i++) {
        gaussian(10 + i, 32, 32).matmul(w); // each x dies after its multiply
      }
      assertThat(be.castStats().bytesHeld()).isEqualTo(5 * 32 * 32 * 2);
      long held = be.castStats().bytesHeld();
      for (int i = 0; i < 50 && held > 2 * 32 * 32; i++) {
        System.gc();
        Thread.sleep(20);
        held = be.castStats().bytesHeld();
      }
      assertThat(held).as("w's copy, and no x's (the cleaner told the cache)")
          .isEqualTo(32 * 32 * 2);
      assertThat(w.matmul(w).numel()).isEqualTo(32 * 32); // w still reused, and checked
      assertThat(be.castStats().reused()).isEqualTo(5);
    } finally {
      Backends.install(before);
    }
  }

  @Test
  void aBadBudgetIsAOneLineError() {
    String old = System.getProperty("sdpo.cuda.castCacheMb");
    try {
      System.setProperty("sdpo.cuda.castCacheMb", "lots");
      assertThatThrownBy(() -> CastCache.configuredBudgetBytes(0))
          .isInstanceOf(DeviceUnavailableException.class)
          .hasMessage("--device cuda: SDPO_CUDA_CAST_CACHE_MB is 'lots', not a number of MiB (0 "
              + "turns the bf16 cast cache off)");
      System.setProperty("sdpo.cuda.castCacheMb", "-3");
      assertThatThrownBy(() -> CastCache.configuredBudgetBytes(0)).hasMessageContaining("'-3'");
      System.setProperty("sdpo.cuda.castCacheMb", " 12 ");
      assertThat(CastCache.configuredBudgetBytes(80L << 30)).isEqualTo(12 * MIB);
      System.clearProperty("sdpo.cuda.castCacheMb");
      if (System.getenv("SDPO_CUDA_CAST_CACHE_MB") == null) {
        assertThat(CastCache.configuredBudgetBytes(0)).as("unknown device").isEqualTo(4096 * MIB);
        assertThat(CastCache.configuredBudgetBytes(24L << 30)).as("an eighth").isEqualTo(3072 * MIB);
        assertThat(CastCache.configuredBudgetBytes(141L << 30)).as("at most").isEqualTo(8192 * MIB);
      }
    } finally {
      if (old == null) {
        System.clearProperty("sdpo.cuda.castCacheMb");
      } else {
        System.setProperty("sdpo.cuda.castCacheMb", old);
      }
    }
  }
}
