package org.sdpo.tensor;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/**
 * The CPU profile ({@code SDPO_CPU_PROFILE=1}): every backend call timed under its name (matrix
 * multiplies under their shapes), the results those of the backend underneath, bit for bit.
 */
class ProfiledBackendTest {

  @Test
  void everyCallIsTimedUnderItsNameAndResultsAreUnchanged() {
    Backend cpu = Backends.current();
    CallProfile p = new CallProfile("test profile", "method");
    Backend profiled = ProfiledBackend.wrap(cpu, p);
    Tensor a = Tensor.normal(new Rng(5), DType.FLOAT32, 0, 1, 3, 4);
    Tensor b = Tensor.normal(new Rng(6), DType.FLOAT32, 0, 1, 5, 4);
    Tensor plain = a.matmul(b, false, true).softmax();
    Backend before = Backends.install(profiled);
    Tensor timed;
    try {
      timed = a.matmul(b, false, true).softmax();
      timed = timed.softmax().add(timed);
    } finally {
      Backends.install(before);
    }
    assertThat(p.calls("matmul [3, 4] x [5, 4]ᵀ")).isEqualTo(1);
    assertThat(p.calls("softmax")).isEqualTo(2);
    assertThat(p.calls("binary")).isEqualTo(1);
    assertThat(p.report(10)).contains("test profile").contains("softmax").contains("method");
    Tensor again = plain.softmax().add(plain);
    assertThat(timed.toFloatArray()).containsExactly(again.toFloatArray());
  }

  @Test
  void theBannerSaysItIsProfiledAndStillShowsTheVectorKernels() {
    Backend cpu = Backends.current();
    Backend profiled = ProfiledBackend.wrap(cpu, new CallProfile("t", "method"));
    assertThat(profiled.description()).isEqualTo(cpu.description()
        + " (profiled: SDPO_CPU_PROFILE)");
    assertThat(ProfiledBackend.unwrap(profiled)).isSameAs(cpu);
    assertThat(ProfiledBackend.unwrap(cpu)).isSameAs(cpu);
    Backend before = Backends.install(profiled);
    try {
      assertThat(Backends.describe()).contains("(profiled: SDPO_CPU_PROFILE)")
          .contains(VectorSupport.describe());
    } finally {
      Backends.install(before);
    }
  }
}
