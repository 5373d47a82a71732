package org.sdpo.tensor;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class WorkspaceBoundTest {
  @Test
  void fixedShapesAreReusedAndChangingShapesDoNotGrowThePool() {
    Workspace ws = new Workspace(1 << 20); // 1 MiB
    for (int step = 0; step < 5; step++) { // the same 64 KiB every step: allocated once
      try (Workspace.Scope s = ws.enter()) {
        Tensor.zeros(DType.FLOAT32, 128, 128);
      }
    }
    assertThat(ws.allocations()).isEqualTo(1);
    assertThat(ws.reuses()).isEqualTo(4);
    assertThat(ws.evictions()).isZero();
    for (int len = 1; len <= 64; len++) { // a new shape every step, 64 KiB-16 MiB in all
      try (Workspace.Scope s = ws.enter()) {
        Tensor.zeros(DType.FLOAT32, len, 1024);
      }
      assertThat(ws.pooledBytes()).isLessThanOrEqualTo(1 << 20);
    }
    assertThat(ws.evictions()).isPositive();
  }
}
