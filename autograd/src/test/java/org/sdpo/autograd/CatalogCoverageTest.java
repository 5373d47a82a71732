package org.sdpo.autograd;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.sdpo.autograd.check.OpCatalog;

/** Every op class in the sources is registered in {@link OpCatalog}, under a unique name. */
class CatalogCoverageTest {

  @Test
  void everyOpClassIsRegistered() throws Exception {
    Set<Class<?>> registered =
        OpCatalog.all().stream().map(OpCatalog.Entry::op).collect(Collectors.toSet());
    List<String> missing = new ArrayList<>();
    int found = 0;
    for (String pkg : List.of("ops", "fused")) {
      Path dir = Path.of("src/main/java/org/sdpo/autograd", pkg);
      for (Path file : list(dir)) {
        String cls = "org.sdpo.autograd." + pkg + "." + file.getFileName().toString().replace(".java", "");
        Class<?> c = Class.forName(cls);
        if (Op.class.isAssignableFrom(c)) {
          found++;
          if (!registered.contains(c)) {
            missing.add(cls);
          }
        }
      }
    }
    assertThat(found).as("op classes found in the sources").isGreaterThanOrEqualTo(25);
    assertThat(missing).as("op classes missing from OpCatalog").isEmpty();
  }

  @Test
  void namesAreUniqueAndAtLeast25OpsIncludingTheFusedOnes() {
    List<String> names = OpCatalog.all().stream().map(OpCatalog.Entry::name).toList();
    assertThat(names).doesNotHaveDuplicates();
    assertThat(names.size()).isGreaterThanOrEqualTo(25);
    assertThat(names).contains("log_softmax", "cross_entropy", "layer_norm", "gelu", "attention");
  }

  private static List<Path> list(Path dir) throws IOException {
    try (Stream<Path> s = Files.list(dir)) {
      return s.filter(p -> p.toString().endsWith(".java")).sorted().toList();
    }
  }
}
