package org.sdpo.tensor;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * ND4J stays behind one door: no module but this one imports it. The one exception is {@code
 * bench}, whose baselines time raw ND4J calls next to the tensor layer's.
 */
class ModuleBoundaryTest {

  @Test
  void onlyTheTensorModuleImportsNd4jBesidesBenchmarkBaselines() throws IOException {
    Path root = Path.of("..").toAbsolutePath().normalize();
    List<Path> offenders;
    try (Stream<Path> files = Files.walk(root)) {
      offenders = files
          .filter(p -> p.toString().endsWith(".java"))
          .filter(p -> !root.relativize(p).startsWith("tensor"))
          .filter(p -> !root.relativize(p).startsWith("bench"))
          .filter(p -> !p.toString().contains("/target/"))
          .filter(ModuleBoundaryTest::importsNd4j)
          .toList();
    }
    assertThat(offenders).as("sources outside the tensor module that import org.nd4j").isEmpty();
  }

  private static boolean importsNd4j(Path p) {
    try {
      return Files.readString(p).contains("import org.nd4j");
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }
}
