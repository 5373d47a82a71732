package org.sdpo.transformer.io;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AtomicFilesTest {
  @TempDir Path dir;

  @Test
  void aFailedWriteKeepsTheOldFileAndLeavesNoTemporary() throws Exception {
    Path f = dir.resolve("sub/a.json");
    AtomicFiles.writeJson(f, Map.of("x", 1));
    assertThat(Files.readString(f)).contains("\"x\" : 1");
    assertThatThrownBy(() -> AtomicFiles.write(f, tmp -> {
      Files.writeString(tmp, "half");
      throw new IOException("disk full");
    })).hasMessage("disk full");
    assertThat(Files.readString(f)).contains("\"x\" : 1");
    try (Stream<Path> s = Files.list(f.getParent())) {
      assertThat(s).containsExactly(f);
    }
    AtomicFiles.writeString(f, "new");
    assertThat(Files.readString(f)).isEqualTo("new");
    if (Files.getFileStore(f).supportsFileAttributeView(PosixFileAttributeView.class)) {
      // a new file is readable by others (not the temporary file's rw-------); a replaced one
      // keeps the permissions it had
      assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(f)))
          .isEqualTo("rw-r--r--");
      Files.setPosixFilePermissions(f, PosixFilePermissions.fromString("rw-rw----"));
      AtomicFiles.writeString(f, "newer");
      assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(f)))
          .isEqualTo("rw-rw----");
    }
  }

  /** A place that cannot take the file names the file, not the temporary sibling it tried. */
  @Test
  void aPlaceThatCannotTakeTheFileIsNamed() throws Exception {
    java.nio.file.Path d = java.nio.file.Files.createTempDirectory("atomic");
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> AtomicFiles.writeString(d, "x"))
        .hasMessage("cannot write " + d + ": it is a directory");
    java.nio.file.Path file = java.nio.file.Files.writeString(d.resolve("a-file"), "x");
    java.nio.file.Path under = file.resolve("b").resolve("c.json");
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> AtomicFiles.writeString(under, "x"))
        .hasMessageStartingWith("cannot write " + under + ": ")
        .hasMessageNotContaining(".tmp");
    java.nio.file.Path locked = java.nio.file.Files.createDirectory(d.resolve("locked"));
    locked.toFile().setWritable(false);
    try {
      if (!java.nio.file.Files.isWritable(locked)) { // root may write anyway
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> AtomicFiles.writeString(
            locked.resolve("x.json"), "x")).hasMessage("cannot write " + locked.resolve("x.json")
            + ": permission denied");
      }
    } finally {
      locked.toFile().setWritable(true);
    }
  }
}
