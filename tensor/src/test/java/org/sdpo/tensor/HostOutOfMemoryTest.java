package org.sdpo.tensor;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * A tensor the host cannot hold: ND4J's refusal becomes one line naming the tensor and the
 * memory, after a collection and one retry (the CLI prints it without a stack trace).
 */
class HostOutOfMemoryTest {
  /** Run in a JVM of its own whose address space is limited: allocates a tensor past it. */
  public static void main(String[] args) {
    try {
      Tensor t = Tensor.empty(DType.FLOAT32, Integer.MAX_VALUE); // 8.59 GB
      System.out.println("allocated " + t.numel());
    } catch (HostOutOfMemoryException e) {
      System.out.println("refused: " + e.getMessage());
      // the first buffer still allocates after the refusal: nothing was left half made
      System.out.println("then " + Tensor.zeros(DType.FLOAT32, 1024).numel());
    }
  }

  @Test
  void aRefusedAllocationNamesTheTensorAndTheLimit() throws Exception {
    assumeTrue(Files.isExecutable(Path.of("/bin/bash")) && Files.exists(Path.of("/proc/self/limits")),
        "needs Linux and bash (ulimit -v)");
    String java = ProcessHandle.current().info().command().orElse("java");
    // 6 GB of address space: the JVM's small heap and code cache, ND4J's libraries and a few
    // threads (each thread's malloc arena reserves 64 MB, so their number is bounded, whatever
    // the machine's cores) fit; 8.59 GB more does not
    String cmd = "ulimit -v 6000000 && exec \"$0\" -Xms16m -Xmx256m -XX:ReservedCodeCacheSize=64m "
        + "-XX:CompressedClassSpaceSize=64m -XX:+UseSerialGC -XX:CICompilerCount=2 -cp \"$1\" "
        + HostOutOfMemoryTest.class.getName();
    ProcessBuilder pb = new ProcessBuilder(List.of("/bin/bash", "-c", cmd, java,
        System.getProperty("java.class.path"))).redirectErrorStream(true);
    pb.environment().put("MALLOC_ARENA_MAX", "2");
    pb.environment().put("OMP_NUM_THREADS", "2");
    Process p = pb.start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor(120, TimeUnit.SECONDS)).isTrue();
    assertThat(out).as(out)
        .contains("refused: out of memory: no room for a float32 tensor [2147483647] (8.59 GB); "
            + "this process holds ")
        .contains(" of the machine's ", " available); its address space is limited to 6.14 GB "
            + "(ulimit -v)")
        .contains("then 1024")
        .doesNotContain("allocated ", "Exception");
  }

  @Test
  void theMessageSaysTheDtypeShapeAndSize() {
    assertThat(Nd4jBackend.outOfMemory(DType.FLOAT32, new int[] {4096, 50257}))
        .startsWith("out of memory: no room for a float32 tensor [4096, 50257] (823 MB); this "
            + "process holds ")
        .doesNotContain("\n");
    assertThat(Nd4jBackend.outOfMemory(DType.FLOAT64, new int[] {2, 3}))
        .startsWith("out of memory: no room for a float64 tensor [2, 3] (0 MB)");
  }

  @Test
  void onlyAllocationFailuresAreTranslated() {
    assertThat(Nd4jBackend.isAllocationFailure(
        new RuntimeException("Allocation failed: [std::bad_alloc]"))).isTrue();
    assertThat(Nd4jBackend.isAllocationFailure(new OutOfMemoryError(
        "Failed to allocate memory within limits: totalBytes (1) + size (2) > maxBytes (2)")))
        .isTrue();
    assertThat(Nd4jBackend.isAllocationFailure(new RuntimeException("Op [matmul] failed")))
        .isFalse();
    assertThat(Nd4jBackend.isAllocationFailure(new IllegalStateException((String) null)))
        .isFalse();
  }
}
