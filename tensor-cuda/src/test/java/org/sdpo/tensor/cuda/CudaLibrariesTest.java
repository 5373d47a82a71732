package org.sdpo.tensor.cuda;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The documented search for the driver and cuBLAS, and its one-line failure. */
class CudaLibrariesTest {

  @Test
  void theFolderNamedByThePropertyComesFirst(@TempDir Path dir) throws Exception {
    Files.writeString(dir.resolve("libcublas.so.13"), "");
    String old = System.setProperty("sdpo.cuda.path", dir.toString());
    try {
      assertThat(CudaLibraries.searchPath().get(0)).isEqualTo(dir);
      assertThat(CudaLibraries.find("cuBLAS", "libcublas.so.13"))
          .isEqualTo(dir.resolve("libcublas.so.13"));
    } finally {
      restore(old);
    }
  }

  @Test
  void aMissingLibraryNamesEveryPathTried(@TempDir Path dir) {
    String old = System.setProperty("sdpo.cuda.path", dir.toString());
    try {
      assertThatThrownBy(() -> CudaLibraries.find("libnothing", "libnothing.so.99"))
          .isInstanceOf(IllegalStateException.class)
          .hasMessageStartingWith("--device cuda: libnothing not found")
          .hasMessageContaining(dir.resolve("libnothing.so.99").toString())
          .hasMessageContaining("/usr/local/cuda/lib64/libnothing.so.99")
          .satisfies(e -> assertThat(e.getMessage()).doesNotContain("\n"));
    } finally {
      restore(old);
    }
  }

  private static void restore(String old) {
    if (old == null) {
      System.clearProperty("sdpo.cuda.path");
    } else {
      System.setProperty("sdpo.cuda.path", old);
    }
  }
}
