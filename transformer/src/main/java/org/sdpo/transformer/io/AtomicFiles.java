package org.sdpo.transformer.io;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/**
 * Files written whole or not at all: the content goes to a temporary sibling that is renamed over
 * the target when complete. A reader sees the old file or the new one, never a part; a write that
 * fails leaves the old file and no temporary behind.
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
