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
}
