package org.sdpo.tensor;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class MemoryStatsTest {
  @Test
  void manyDeadBuffersTriggerCollections() {
    long before = MemoryStats.collections();
    long bytes = 0;
    // the collection threshold and 200 MiB more of short-lived 4 MB buffers: at least one
    // collection is requested
    while (bytes < MemoryStats.collectEveryBytes() + (200L << 20)) {
      Tensor t = Tensor.zeros(DType.FLOAT32, 1024, 1024);
      bytes += 4L * t.numel();
    }
    assertThat(MemoryStats.collections()).isGreaterThan(before);
  }
}
