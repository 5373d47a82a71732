package org.sdpo.autograd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import org.junit.jupiter.api.Test;
import org.sdpo.tensor.DType;
import org.sdpo.tensor.Tensor;
import org.sdpo.tensor.Workspace;

class BackpropTest {
  private static final DType D = DType.FLOAT64;

  private static Variable param(double... v) {
    return Variable.param(Tensor.of(D, v, v.length));
  }

  /**
   * A sub-graph run over rows of a larger tensor, a chunk at a time, with each chunk's rows a
   * {@link Variable#gradientInto} leaf over a slice of one gradient tensor: the slices together
   * hold the whole graph's gradient, the shared weight sums its chunks' contributions, and the
   * gathered gradient then backpropagates through what made the rows.
   */
  @Test
  void gradientsOfChunksLandInSlicesOfTheWholeGradient() {
    Tensor x0 = Tensor.of(D, new double[] {0.3, -1.2, 2.0, 0.7, -0.4, 1.1, 0.9, -2.2, 0.05, 1.6},
        5, 2);
    Tensor w0 = Tensor.of(D, new double[] {0.5, -0.3, 1.2, 0.8, -0.6, 0.1}, 3, 2);
    // whole: loss = sum(logSoftmax(tanh(x) w^T)[.., 0])
    Variable x = Variable.param(x0.copy());
    Variable w = Variable.param(w0.copy());
    Variable h = F.tanh(x); // (5, 2): what made the rows
    F.sum(F.slice(F.logSoftmax(F.matmul(h, w, false, true)), 1, 0, 1)).backward();
    // in chunks of 2, 2 and 1 rows
    Variable xc = Variable.param(x0.copy());
    Variable wc = Variable.param(w0.copy());
    Variable hc = F.tanh(xc);
    Tensor dh = Tensor.zeros(D, 5, 2);
    for (int a = 0; a < 5; a += 2) {
      int e = Math.min(5, a + 2);
      Variable rows = Variable.gradientInto(hc.value().slice(0, a, e), dh.slice(0, a, e));
      F.sum(F.slice(F.logSoftmax(F.matmul(rows, wc, false, true)), 1, 0, 1)).backward();
    }
    hc.backward(dh);
    assertThat(xc.grad().maxAbsDiff(x.grad())).isLessThan(1e-15);
    assertThat(wc.grad().maxAbsDiff(w.grad())).isLessThan(1e-15);
    assertThat(x.grad().maxAbs()).isGreaterThan(0.01);
    assertThatThrownBy(() -> Variable.gradientInto(x0, Tensor.zeros(D, 5, 3)))
        .hasMessageContaining("gradientInto").hasMessageContaining("[5, 3]");
  }

  @Test
  void scaleByOneIsTheVariableItself() {
    Variable x = param(1, 2);
    assertThat(F.scale(x, 1.0)).isSameAs(x);
    assertThat(F.scale(x, 2.0)).isNotSameAs(x);
  }

  @Test
  void accumulatesGradientOfAVariableUsedSeveralTimes() {
    Variable x = param(1, 2, 3);
    // y = sum(x*x + x) -> dy/dx = 2x + 1
    Variable y = F.sum(F.add(F.mul(x, x), x));
    y.backward();
    assertThat(x.grad().toDoubleArray()).containsExactly(3, 5, 7);
    // a second forward/backward accumulates
    F.sum(x).backward();
    assertThat(x.grad().toDoubleArray()).containsExactly(4, 6, 8);
    x.zeroGrad();
    assertThat(x.grad().toDoubleArray()).containsExactly(0, 0, 0);
  }

  @Test
  void noGradScopeAndDetachCutTheGraph() {
    Variable x = param(1, 2);
    Variable y;
    try (Grad.Scope s = Grad.disabled()) {
      y = F.mul(x, x);
    }
    assertThat(y.requiresGrad()).isFalse();
    assertThat(Grad.isEnabled()).isTrue();
    // stop-gradient: d/dx [x * detach(x)] = detach(x)
    Variable z = F.sum(F.mul(x, x.detach()));
    z.backward();
    assertThat(x.grad().toDoubleArray()).containsExactly(1, 2);
    assertThatThrownBy(() -> F.sum(y).backward())
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("does not depend");
  }

  @Test
  void freesTheGraphAfterBackward() {
    Variable x = param(1, 2);
    Variable y = F.sum(F.exp(x));
    assertThat(y.hasCreator()).isTrue();
    y.backward();
    assertThat(y.hasCreator()).isFalse();
    assertThatThrownBy(y::backward)
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("already freed");
  }

  @Test
  void deepGraphsDoNotOverflowTheStack() {
    Variable x = param(0.5);
    Variable y = x;
    for (int i = 0; i < 20_000; i++) {
      y = F.shift(y, 0.0);
    }
    F.sum(y).backward();
    assertThat(x.grad().item()).isEqualTo(1.0);
  }

  @Test
  void chainRuleMatchesHandDerivative() {
    // y = exp(tanh(x)) -> dy/dx = exp(tanh x) (1 - tanh^2 x)
    double x0 = 0.37;
    Variable x = param(x0);
    F.sum(F.exp(F.tanh(x))).backward();
    double t = Math.tanh(x0);
    assertThat(x.grad().item()).isCloseTo(Math.exp(t) * (1 - t * t), within(1e-14));
  }

  @Test
  void anomalyModeNamesTheOpThatProducedNan() {
    Variable x = param(-1, 2);
    try (Grad.Scope s = Anomaly.detect()) {
      assertThatThrownBy(() -> F.log(x))
          .isInstanceOf(Anomaly.AnomalyException.class)
          .hasMessageContaining("'log'")
          .satisfies(e -> assertThat(((Anomaly.AnomalyException) e).op()).isEqualTo("log"));
      // backward anomaly: sqrt at 0 has an infinite derivative
      Variable z = param(0, 1);
      Variable y = F.sum(F.sqrt(z));
      assertThatThrownBy(y::backward)
          .isInstanceOf(Anomaly.AnomalyException.class)
          .hasMessageContaining("backward of op 'sqrt'");
    }
    // off by default: no exception
    assertThat(F.log(x).value().isFinite()).isFalse();
  }

  @Test
  void trainingStepInAWorkspaceAllocatesNothingAfterTheFirstStep() {
    Workspace ws = new Workspace();
    Variable w = Variable.param(Tensor.full(DType.FLOAT32, 0.1, 8, 8));
    Tensor x = Tensor.full(DType.FLOAT32, 1.0, 4, 8);
    long afterFirst = 0;
    for (int step = 0; step < 4; step++) {
      try (Workspace.Scope s = ws.enter()) {
        Variable y = F.mean(F.gelu(F.matmul(Variable.constant(x), w)));
        y.backward();
        w.value().axpyInPlace(-0.1, w.grad());
        w.zeroGrad();
      }
      if (step == 0) {
        afterFirst = ws.allocations();
      }
    }
    assertThat(afterFirst).isPositive();
    assertThat(ws.allocations()).isEqualTo(afterFirst);
  }

  @Test
  void paramsKeepGradientsOutsideTheWorkspaceScope() {
    Workspace ws = new Workspace();
    Variable w = param(1, 2);
    try (Workspace.Scope s = ws.enter()) {
      F.sum(F.mul(w, w)).backward();
    }
    assertThat(w.grad().toDoubleArray()).containsExactly(2, 4);
  }

  @Test
  void rejectsNonScalarBackwardAndBadSeed() {
    Variable x = param(1, 2);
    Variable y = F.exp(x);
    assertThatThrownBy(y::backward)
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("scalar");
    assertThatThrownBy(() -> y.backward(Tensor.ones(D, 3)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("[3]");
  }
}
