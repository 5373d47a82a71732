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

  @Test
  void aStepLargerThanTheBoundIsStillReused() {
    Workspace ws = new Workspace(64 << 10); // 64 KiB
    for (int step = 0; step < 5; step++) { // 512 KiB + 64 KiB every step
      try (Workspace.Scope s = ws.enter()) {
        Tensor.zeros(DType.FLOAT32, 128, 1024);
        Tensor.zeros(DType.FLOAT32, 128, 128);
      }
    }
    assertThat(ws.allocations()).isEqualTo(2);
    assertThat(ws.evictions()).isZero();
  }

  @Test
  void aPhaseLargerThanTheBoundKeepsItsBuffersWhileOtherPhasesRun() {
    Workspace ws = new Workspace(256 << 10); // 256 KiB
    for (int step = 0; step < 10; step++) {
      try (Workspace.Scope s = ws.enter()) { // 1.5 MiB: an update at a large vocabulary
        Tensor.zeros(DType.FLOAT32, 256, 1024);
        Tensor.zeros(DType.FLOAT32, 128, 1024);
      }
      try (Workspace.Scope s = ws.enter()) { // 64 KiB: sampling, closing over the bound
        Tensor.zeros(DType.FLOAT32, 16, 1024);
      }
    }
    assertThat(ws.allocations()).as("allocated once, not at every step").isEqualTo(3);
    assertThat(ws.evictions()).isZero();
    // once the large phase has not run for STALE_ROUNDS rounds, the bound is the bound again
    for (int r = 0; r <= Workspace.STALE_ROUNDS; r++) {
      try (Workspace.Scope s = ws.enter()) {
        Tensor.zeros(DType.FLOAT32, 16, 1024);
      }
    }
    assertThat(ws.pooledBytes()).isEqualTo(64 << 10);
  }

  @Test
  void theShapesUsedLeastRecentlyAreReleasedFirst() {
    Workspace ws = new Workspace(1 << 20); // 1 MiB
    for (int step = 0; step < 40; step++) {
      try (Workspace.Scope s = ws.enter()) { // a phase with fixed shapes, every step
        Tensor.zeros(DType.FLOAT32, 256, 256); // 256 KiB
      }
      try (Workspace.Scope s = ws.enter()) { // a phase whose shape changes every step
        Tensor.zeros(DType.FLOAT32, step + 1, 4096); // 16 KiB .. 640 KiB
      }
      assertThat(ws.pooledBytes()).isLessThanOrEqualTo(1 << 20);
    }
    // the fixed phase's buffer was used more recently than the old shapes: never released
    assertThat(ws.allocations()).isEqualTo(1 + 40);
    assertThat(ws.evictions()).isPositive();
  }

  @Test
  void eachThreadHasItsOwnSharedWorkspace() throws Exception {
    Workspace mine = Workspace.ofThisThread();
    assertThat(Workspace.ofThisThread()).isSameAs(mine);
    Workspace[] other = new Workspace[1];
    Thread t = new Thread(() -> other[0] = Workspace.ofThisThread());
    t.start();
    t.join();
    assertThat(other[0]).isNotNull().isNotSameAs(mine);
  }

  @Test
  void aPhaseThatHasEndedMakesRoomForTheNextOneBeforeItAllocates() {
    Workspace ws = new Workspace(1 << 20); // 1 MiB
    for (int step = 0; step < 3; step++) { // phase 1: 768 KiB in one shape
      try (Workspace.Scope s = ws.enter()) {
        Tensor.zeros(DType.FLOAT32, 192, 1024);
      }
    }
    for (int step = 0; step < Workspace.STALE_ROUNDS + 1; step++) { // phase 2: 256 KiB
      try (Workspace.Scope s = ws.enter()) {
        Tensor.zeros(DType.FLOAT32, 64, 1024);
      }
    }
    assertThat(ws.pooledBytes()).isEqualTo((768 + 256) << 10); // at the bound, not over
    long allocations = ws.allocations();
    try (Workspace.Scope s = ws.enter()) {
      Tensor.zeros(DType.FLOAT32, 64, 1024); // phase 2's buffer, reused
      // a new 256 KiB: with phase 2's in use, free + in use + new would exceed the bound, so the
      // stale phase 1 is released before allocating, not only when the scope closes
      Tensor.zeros(DType.FLOAT32, 32, 2048);
      assertThat(ws.pooledBytes()).isZero();
    }
    assertThat(ws.allocations()).isEqualTo(allocations + 1);
    assertThat(ws.pooledBytes()).isEqualTo(512 << 10);
  }

  @Test
  void releasingTheFreeBuffersKeepsThoseInUse() {
    Workspace ws = new Workspace();
    try (Workspace.Scope s = ws.enter()) {
      Tensor.zeros(DType.FLOAT32, 64, 64);
    }
    try (Workspace.Scope s = ws.enter()) {
      Tensor kept = Tensor.full(DType.FLOAT32, 3.0, 8, 8);
      assertThat(ws.pooledBytes()).isEqualTo(64 * 64 * 4);
      ws.releaseFree();
      assertThat(ws.pooledBytes()).isZero();
      assertThat(kept.toDoubleArray()).containsOnly(3.0);
    }
    assertThat(ws.pooledBytes()).isEqualTo(8 * 8 * 4); // the one in use came back at the close
  }

  @Test
  void aBufferOutDuringAReleaseCanStillBeReleasedLater() {
    Workspace ws = new Workspace(1 << 20); // 1 MiB
    try (Workspace.Scope outer = ws.enter()) {
      Tensor.zeros(DType.FLOAT32, 64, 1024); // 256 KiB, out while the inner scope releases
      try (Workspace.Scope s = ws.enter()) { // 512 + 1024 KiB: over the bound at its close
        Tensor.zeros(DType.FLOAT32, 128, 1024);
        Tensor.zeros(DType.FLOAT32, 256, 1024);
      }
    }
    // each close kept the shapes its own scope used: all three are pooled
    assertThat(ws.pooledBytes()).isEqualTo((256 + 512 + 1024) << 10);
    for (int r = 0; r < Workspace.STALE_ROUNDS; r++) { // until that round no longer raises the
      ws.enter().close(); // bound (a round over it keeps its buffers while it recurs)
    }
    assertThat(ws.pooledBytes()).isEqualTo((256 + 512 + 1024) << 10);
    try (Workspace.Scope s = ws.enter()) { // a new 1 MiB shape: every stale buffer must go first
      Tensor.zeros(DType.FLOAT32, 256, 1024);
    }
    // the outer scope's shape too (out during the inner release, it was once left off the record
    // and could never be released again)
    assertThat(ws.pooledBytes()).isEqualTo(1024 << 10);
  }
}
