package org.sdpo.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * Which classes above the tensor layer read or write host buffers ({@code Buf},
 * {@code Tensor.buffer()}): a kernel there has no implementation on any backend but the CPU's. The
 * list below is what is left to move behind {@code Backend} (issue: one door for every kernel); a
 * new class may not join it, and a class that stops using host buffers must leave it, so the list
 * only shrinks.
 */
class HostBufferBoundaryTest {
  static final Set<String> NOT_YET_BEHIND_THE_BACKEND = Set.of(
      "autograd/src/main/java/org/sdpo/autograd/fused/Attention.java",
      "autograd/src/main/java/org/sdpo/autograd/fused/LogSoftmax.java",
      "autograd/src/main/java/org/sdpo/autograd/fused/Softmax.java",
      "autograd/src/main/java/org/sdpo/autograd/fused/SoftmaxCrossEntropy.java",
      "autograd/src/main/java/org/sdpo/autograd/ops/Dropout.java",
      "autograd/src/main/java/org/sdpo/autograd/ops/Log1mExp.java",
      "autograd/src/main/java/org/sdpo/autograd/ops/Pick.java",
      "sdpo-core/src/main/java/org/sdpo/core/Teacher.java",
      "transformer/src/main/java/org/sdpo/transformer/train/AdamW.java",
      "transformer/src/main/java/org/sdpo/transformer/train/GradClip.java");

  /** Reading and writing checkpoints is not a hot path: host buffers are its job. */
  static final Set<String> INPUT_OUTPUT = Set.of(
      "transformer/src/main/java/org/sdpo/transformer/io/Safetensors.java");

  @Test
  void onlyTheListedClassesUseHostBuffersAboveTheTensorLayer() throws IOException {
    Set<String> found = new TreeSet<>();
    for (String module : List.of("autograd", "transformer", "sdpo-core", "verifiers", "cli")) {
      Path root = Path.of("..", module, "src/main/java");
      try (Stream<Path> files = Files.walk(root)) {
        for (Path f : files.filter(p -> p.toString().endsWith(".java")).toList()) {
          String src = Files.readString(f);
          if (src.contains(".buffer()") || src.matches("(?s).*\\bBuf\\b.*")) {
            found.add(Path.of("..").relativize(f).toString().replace('\\', '/'));
          }
        }
      }
    }
    found.removeAll(INPUT_OUTPUT);
    assertThat(found).as("classes above the tensor layer that use host buffers")
        .containsExactlyInAnyOrderElementsOf(NOT_YET_BEHIND_THE_BACKEND);
  }
}
