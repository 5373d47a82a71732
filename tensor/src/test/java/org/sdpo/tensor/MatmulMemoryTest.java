package org.sdpo.tensor;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** Native memory of matmul outputs is released once the outputs are garbage. */
class MatmulMemoryTest {
  private static long residentMb() throws Exception {
    for (String l : Files.readAllLines(Path.of("/proc/self/status"))) {
      if (l.startsWith("VmRSS:")) {
        return Long.parseLong(l.replaceAll("\\D", "")) / 1024;
      }
    }
    throw new IllegalStateException("no VmRSS");
  }

  private static long settled() throws Exception {
    for (int i = 0; i < 3; i++) {
      System.gc();
      Thread.sleep(300); // ND4J's deallocator threads free the buffers of collected arrays
    }
    return residentMb();
  }

  @Test
  void batchedProductsDoNotKeepTheirOutputs() throws Exception {
    assumeTrue(Files.exists(Path.of("/proc/self/status")), "needs Linux /proc");
    Tensor q = Tensor.zeros(DType.FLOAT32, 128, 200, 32);
    q.matmul(q, false, true); // warm-up: libraries, thread pools, the op context
    long before = settled();
    for (int i = 0; i < 40; i++) {
      q.matmul(q, false, true); // (128, 200, 200): 20 MB each, 800 MB in all
    }
    long after = settled();
    // a context that kept each output's memory grew by about 1 GB here (measured)
    assertThat(after - before).as("resident MB growth").isLessThan(300);
  }
}
