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
 * No class above the tensor layer reads or writes host buffers ({@code Buf},
 * {@code Tensor.buffer()}): every kernel is a {@code Backend} method, so a new backend (a GPU's)
 * implements them all and nothing above the tensor layer changes. Checkpoints are read and
 * written a chunk at a time through {@code Tensor.read}/{@code write}, so there is no exception.
 */
class HostBufferBoundaryTest {
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
    assertThat(found).as("classes above the tensor layer that use host buffers").isEmpty();
  }
}
