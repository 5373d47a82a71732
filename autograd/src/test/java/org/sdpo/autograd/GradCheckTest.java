package org.sdpo.autograd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;
import org.sdpo.autograd.check.GradCheck;
import org.sdpo.tensor.DType;
import org.sdpo.tensor.Rng;
import org.sdpo.tensor.Tensor;

/** Tests of the tester: the checker must fail on wrong gradients and say where. */
class GradCheckTest {

  /** y = x^2 with a deliberately wrong backward (the factor 2 is missing). */
  static final class BrokenSquare extends Op {
    private final Tensor x;

    private BrokenSquare(Tensor x) {
      this.x = x;
    }

    static Variable apply(Variable x) {
      return record(new BrokenSquare(x.value()), x.value().square(), x);
    }

    @Override
    public String name() {
      return "broken_square";
    }

    @Override
    public Tensor[] backward(Tensor g) {
      return new Tensor[] {g.mul(x)}; // should be 2 x g
    }
  }

  /** y = sin-free sign flip: gradient of tanh with the wrong sign. */
  static final class FlippedTanh extends Op {
    private final Tensor y;

    private FlippedTanh(Tensor y) {
      this.y = y;
    }

    static Variable apply(Variable x) {
      Tensor y = x.value().tanh();
      return record(new FlippedTanh(y), y, x);
    }

    @Override
    public String name() {
      return "flipped_tanh";
    }

    @Override
    public Tensor[] backward(Tensor g) {
      return new Tensor[] {g.mul(y.square().rsub(1)).neg()};
    }
  }

  @Test
  void failsOnAMissingFactorAndNamesTheOpAndElement() {
    Tensor x = Tensor.normal(new Rng(1), DType.FLOAT64, 0, 1, 2, 3);
    GradCheck.Report r = GradCheck.check("broken_square", v -> BrokenSquare.apply(v[0]), x);
    assertThat(r.passed()).isFalse();
    assertThat(r.describe()).contains("broken_square", "GRADIENT MISMATCH", "input 0", "index");
    assertThat(r.maxRelError()).isGreaterThan(0.4);
  }

  @Test
  void failsOnASignFlip() {
    Tensor x = Tensor.normal(new Rng(2), DType.FLOAT64, 0, 1, 4);
    GradCheck.Report r = GradCheck.check("flipped_tanh", v -> FlippedTanh.apply(v[0]), x);
    assertThat(r.passed()).isFalse();
  }

  @Test
  void passesOnACorrectCompositionWithSeveralInputs() {
    Rng rng = new Rng(3);
    Tensor a = Tensor.normal(rng, DType.FLOAT64, 0, 1, 3, 4);
    Tensor b = Tensor.normal(rng, DType.FLOAT64, 0, 1, 4, 2);
    Tensor c = Tensor.normal(rng, DType.FLOAT64, 0, 1, 2);
    GradCheck.Report r = GradCheck.check("linear+gelu",
        v -> F.gelu(F.linear(v[0], v[1], v[2])), a, b, c);
    assertThat(r.passed()).as(r.describe()).isTrue();
    assertThat(r.inputs()).hasSize(3);
    assertThat(r.maxAbsError()).isLessThan(1e-7);
  }

  @Test
  void refusesFloat32Inputs() {
    Tensor x = Tensor.ones(DType.FLOAT32, 2);
    assertThatThrownBy(() -> GradCheck.check("exp", v -> F.exp(v[0]), x))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("FLOAT64");
  }
}
