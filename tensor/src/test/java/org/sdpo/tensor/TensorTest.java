package org.sdpo.tensor;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import org.junit.jupiter.api.Test;

class TensorTest {
  private static final DType D = DType.FLOAT64;

  private static Tensor seq(int... shape) {
    double[] d = new double[(int) Shape.numel(shape)];
    for (int i = 0; i < d.length; i++) {
      d[i] = i + 1;
    }
    return Tensor.of(D, d, shape);
  }

  @Test
  void createsAndReadsBack() {
    Tensor t = seq(2, 3);
    assertThat(t.shape()).containsExactly(2, 3);
    assertThat(t.get(1, 2)).isEqualTo(6.0);
    assertThat(t.toDoubleArray()).containsExactly(1, 2, 3, 4, 5, 6);
    assertThat(Tensor.zeros(DType.FLOAT32, 3).toFloatArray()).containsExactly(0f, 0f, 0f);
    assertThat(Tensor.scalar(D, 2.5).item()).isEqualTo(2.5);
    assertThat(Tensor.scalar(D, 2.5).rank()).isZero();
  }

  @Test
  void broadcastsLikeNumpy() {
    Tensor a = seq(2, 3);
    Tensor row = Tensor.of(D, new double[] {10, 20, 30}, 3);
    Tensor col = Tensor.of(D, new double[] {100, 200}, 2, 1);
    assertThat(a.add(row).toDoubleArray()).containsExactly(11, 22, 33, 14, 25, 36);
    assertThat(a.mul(col).toDoubleArray()).containsExactly(100, 200, 300, 800, 1000, 1200);
    assertThat(row.add(col).shape()).containsExactly(2, 3);
    assertThat(a.sub(Tensor.scalar(D, 1)).toDoubleArray()).containsExactly(0, 1, 2, 3, 4, 5);
    assertThat(a.div(row).get(1, 0)).isEqualTo(0.4);
  }

  @Test
  void rejectsBadShapesWithOpAndShapesInMessage() {
    assertThatThrownBy(() -> seq(2, 3).add(seq(4)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("add")
        .hasMessageContaining("[2, 3]")
        .hasMessageContaining("[4]");
    assertThatThrownBy(() -> seq(2, 3).matmul(seq(2, 3)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("matmul")
        .hasMessageContaining("[2, 3]");
    assertThatThrownBy(() -> seq(2, 3).reshape(4, 2))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("reshape");
    assertThatThrownBy(() -> seq(2, 3).sum(false, 2))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("axis 2");
    assertThatThrownBy(() -> seq(2, 3).gatherRows(new int[] {5}, 1))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("id 5");
    assertThatThrownBy(() -> Tensor.zeros(D, 0, 3))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("[0, 3]");
    assertThatThrownBy(() -> seq(2).add(Tensor.zeros(DType.FLOAT32, 2)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("dtypes");
  }

  @Test
  void reducesOverAxes() {
    Tensor a = seq(2, 3, 4);
    assertThat(a.sum().item()).isEqualTo(300.0);
    Tensor s1 = a.sum(false, 1);
    assertThat(s1.shape()).containsExactly(2, 4);
    assertThat(s1.get(0, 0)).isEqualTo(1 + 5 + 9);
    Tensor k = a.sum(true, 0, 2);
    assertThat(k.shape()).containsExactly(1, 3, 1);
    assertThat(k.get(0, 1, 0)).isEqualTo((5 + 6 + 7 + 8) + (17 + 18 + 19 + 20));
    assertThat(a.mean(false, -1).get(1, 2)).isEqualTo((21 + 22 + 23 + 24) / 4.0);
    assertThat(a.max(false, 1).get(1, 3)).isEqualTo(24.0);
    assertThat(a.mean().item()).isEqualTo(12.5);
  }

  @Test
  void sumToUndoesBroadcast() {
    Tensor g = seq(2, 3, 4);
    Tensor r = g.sumTo(3, 1);
    assertThat(r.shape()).containsExactly(3, 1);
    assertThat(r.get(0, 0)).isEqualTo(1 + 2 + 3 + 4 + 13 + 14 + 15 + 16);
    assertThat(g.sumTo().rank()).isZero();
    assertThat(g.sumTo().item()).isEqualTo(300.0);
  }

  @Test
  void matmulWithTransposesMatchesPlainLoops() {
    Rng rng = new Rng(1);
    Tensor a = Tensor.normal(rng, D, 0, 1, 3, 4);
    Tensor b = Tensor.normal(rng, D, 0, 1, 5, 4);
    Tensor c = a.matmul(b, false, true); // (3, 5)
    double[][] ref = new double[3][5];
    for (int i = 0; i < 3; i++) {
      for (int j = 0; j < 5; j++) {
        for (int k = 0; k < 4; k++) {
          ref[i][j] += a.get(i, k) * b.get(j, k);
        }
        assertThat(c.get(i, j)).isCloseTo(ref[i][j], within(1e-12));
      }
    }
    Tensor x = Tensor.normal(rng, D, 0, 1, 2, 4, 3);
    Tensor y = Tensor.normal(rng, D, 0, 1, 2, 4, 5);
    Tensor z = x.matmul(y, true, false); // (2, 3, 5)
    assertThat(z.shape()).containsExactly(2, 3, 5);
    double ref11 = 0;
    for (int k = 0; k < 4; k++) {
      ref11 += x.get(1, k, 2) * y.get(1, k, 4);
    }
    assertThat(z.get(1, 2, 4)).isCloseTo(ref11, within(1e-12));
  }

  @Test
  void softmaxAndLogSoftmaxAreStable() {
    Tensor x = Tensor.of(D, new double[] {1000, 1001, 1002, -5, 0, 5}, 2, 3);
    Tensor p = x.softmax();
    Tensor lp = x.logSoftmax();
    double z = Math.log(Math.exp(-2) + Math.exp(-1) + 1);
    assertThat(lp.get(0, 2)).isCloseTo(-z, within(1e-12));
    assertThat(p.get(0, 2)).isCloseTo(Math.exp(-z), within(1e-12));
    assertThat(p.sum(false, 1).toDoubleArray()).containsExactly(new double[] {1, 1}, within(1e-12));
    assertThat(lp.isFinite()).isTrue();
    // far-apart logits: exact differences, never -infinity
    Tensor far = Tensor.of(DType.FLOAT32, new float[] {1000, -1000, 0}, 3).logSoftmax();
    assertThat(far.toDoubleArray()).containsExactly(0, -2000, -1000);
  }

  @Test
  void viewsReshapePermuteSliceConcat() {
    Tensor a = seq(2, 3, 4);
    Tensor p = a.permute(2, 0, 1); // (4, 2, 3)
    assertThat(p.shape()).containsExactly(4, 2, 3);
    assertThat(p.get(3, 1, 2)).isEqualTo(a.get(1, 2, 3));
    assertThat(p.reshape(8, 3).get(7, 2)).isEqualTo(a.get(1, 2, 3));
    Tensor s = a.slice(1, 1, 3); // (2, 2, 4)
    assertThat(s.get(1, 0, 2)).isEqualTo(a.get(1, 1, 2));
    assertThat(s.copy().toDoubleArray()).hasSize(16);
    Tensor c = Tensor.concat(1, a.slice(1, 0, 1), a.slice(1, 1, 3));
    assertThat(c.toDoubleArray()).containsExactly(a.toDoubleArray());
    assertThat(a.reshape(-1).shape()).containsExactly(24);
    assertThat(a.transpose(0, 2).get(3, 2, 1)).isEqualTo(a.get(1, 2, 3));
  }

  @Test
  void gatherScatterPickWhere() {
    Tensor table = seq(4, 2);
    Tensor g = table.gatherRows(new int[] {3, 0, 3}, 3);
    assertThat(g.toDoubleArray()).containsExactly(7, 8, 1, 2, 7, 8);
    Tensor acc = Tensor.zeros(D, 4, 2);
    acc.scatterAddRowsInPlace(new int[] {3, 0, 3}, g);
    assertThat(acc.toDoubleArray()).containsExactly(1, 2, 0, 0, 0, 0, 14, 16);
    assertThat(table.pick(new int[] {1, 0, 1, 0}).toDoubleArray()).containsExactly(2, 3, 6, 7);
    Tensor cond = Tensor.of(D, new double[] {1, 0}, 2, 1);
    Tensor w = Tensor.where(cond, table.slice(0, 0, 2), Tensor.scalar(D, -1));
    assertThat(w.toDoubleArray()).containsExactly(1, 2, -1, -1);
    assertThat(Tensor.causalMask(D, 3).toDoubleArray()).containsExactly(1, 0, 0, 1, 1, 0, 1, 1, 1);
  }

  @Test
  void elementwiseMatchesJavaMath() {
    double[] v = {-2.5, -0.5, 0.25, 1.5};
    Tensor t = Tensor.of(D, v, 4);
    double[] exp = t.exp().toDoubleArray();
    double[] tanh = t.tanh().toDoubleArray();
    double[] sig = t.sigmoid().toDoubleArray();
    double[] relu = t.relu().toDoubleArray();
    double[] abs = t.abs().toDoubleArray();
    double[] log = t.abs().log().toDoubleArray();
    double[] sq = t.abs().sqrt().toDoubleArray();
    double[] pw = t.abs().pow(1.5).toDoubleArray();
    for (int i = 0; i < v.length; i++) {
      assertThat(exp[i]).isCloseTo(Math.exp(v[i]), within(1e-12));
      assertThat(tanh[i]).isCloseTo(Math.tanh(v[i]), within(1e-12));
      assertThat(sig[i]).isCloseTo(1 / (1 + Math.exp(-v[i])), within(1e-12));
      assertThat(relu[i]).isEqualTo(Math.max(v[i], 0));
      assertThat(abs[i]).isEqualTo(Math.abs(v[i]));
      assertThat(log[i]).isCloseTo(Math.log(Math.abs(v[i])), within(1e-12));
      assertThat(sq[i]).isCloseTo(Math.sqrt(Math.abs(v[i])), within(1e-12));
      assertThat(pw[i]).isCloseTo(Math.pow(Math.abs(v[i]), 1.5), within(1e-12));
    }
    assertThat(t.rsub(1).toDoubleArray()).containsExactly(3.5, 1.5, 0.75, -0.5);
    assertThat(t.rdiv(1).get(2)).isEqualTo(4.0);
    assertThat(t.maximum(Tensor.scalar(D, 0)).toDoubleArray()).containsExactly(relu);
    assertThat(t.greater(Tensor.scalar(D, 0)).toDoubleArray()).containsExactly(0, 0, 1, 1);
  }

  @Test
  void inPlaceOpsAndFloat32() {
    Tensor y = Tensor.ones(DType.FLOAT32, 3);
    y.axpyInPlace(2, Tensor.of(DType.FLOAT32, new float[] {1, 2, 3}, 3));
    assertThat(y.toFloatArray()).containsExactly(3f, 5f, 7f);
    y.mulInPlace(0.5);
    assertThat(y.toFloatArray()).containsExactly(1.5f, 2.5f, 3.5f);
    assertThat(y.to(D).dtype()).isEqualTo(D);
    assertThat(y.to(D).get(2)).isEqualTo(3.5);
  }

  @Test
  void workspaceReusesBuffersAndInvalidatesEscapedTensors() {
    Workspace ws = new Workspace();
    Tensor escaped = null;
    Tensor kept = null;
    for (int step = 0; step < 3; step++) {
      try (Workspace.Scope s = ws.enter()) {
        Tensor a = Tensor.full(D, step, 8, 8);
        Tensor b = a.add(a);
        escaped = b;
        kept = b.detach();
      }
    }
    assertThat(ws.allocations()).isEqualTo(2);
    assertThat(ws.reuses()).isEqualTo(4);
    assertThat(kept.get(0, 0)).isEqualTo(4.0);
    Tensor dead = escaped;
    assertThatThrownBy(() -> dead.get(0, 0))
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("workspace scope closed");
  }

  @Test
  void rngIsReproducible() {
    double[] a = Tensor.normal(new Rng(7), D, 0, 1, 5).toDoubleArray();
    double[] b = Tensor.normal(new Rng(7), D, 0, 1, 5).toDoubleArray();
    double[] c = Tensor.normal(new Rng(8), D, 0, 1, 5).toDoubleArray();
    assertThat(a).containsExactly(b);
    assertThat(a).isNotEqualTo(c);
  }

  /** get on a permuted view reads the view's element (found by the backend conformance test). */
  @Test
  void getOnAPermutedViewReadsTheViewsElement() {
    Tensor p = Tensor.of(DType.FLOAT64, new double[] {0, 1, 2, 3, 4, 5}, 2, 3).permute(1, 0);
    double[] got = new double[6];
    for (int i = 0; i < 3; i++) {
      for (int j = 0; j < 2; j++) {
        got[i * 2 + j] = p.get(i, j);
      }
    }
    org.assertj.core.api.Assertions.assertThat(got).containsExactly(0, 3, 1, 4, 2, 5);
  }
}
