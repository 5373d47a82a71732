package org.sdpo.transformer.io;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.PosixFilePermissions;

/**
 * Files written whole or not at all: the content goes to a temporary sibling that is renamed over
 * the target when complete. A reader sees the old file or the new one, never a part; a write that
 * fails leaves the old file and no temporary behind. The file gets the permissions of the file it
 * replaces, or rw-r--r-- when new (a temporary file is created private, rw-------).
 */
public final class AtomicFiles {
  private AtomicFiles() {}

  /** Writes the content of the file into the path it is given. */
  @FunctionalInterface
  public interface Body {
    void write(Path tmp) throws IOException;
  }

  /** Writes {@code file} through {@code body}, creating its directory if needed. */
  public static void write(Path file, Body body) throws IOException {
    Path dir = file.toAbsolutePath().getParent();
    Files.createDirectories(dir);
    Path tmp = Files.createTempFile(dir, "." + file.getFileName(), ".tmp");
    try {
      body.write(tmp);
      if (Files.getFileStore(tmp).supportsFileAttributeView(PosixFileAttributeView.class)) {
        Files.setPosixFilePermissions(tmp, Files.exists(file) ? Files.getPosixFilePermissions(file)
            : PosixFilePermissions.fromString("rw-r--r--"));
      }
      Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    } finally {
      Files.deleteIfExists(tmp);
    }
  }

  /** A UTF-8 text file. */
  public static void writeString(Path file, CharSequence text) throws IOException {
    write(file, tmp -> Files.writeString(tmp, text, StandardCharsets.UTF_8));
  }

  /** {@code value} as indented JSON. */
  public static void writeJson(Path file, Object value) throws IOException {
    write(file, tmp -> new ObjectMapper().writerWithDefaultPrettyPrinter()
        .writeValue(tmp.toFile(), value));
  }
}
