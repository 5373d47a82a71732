package org.sdpo.transformer.io;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
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

  /**
   * Writes {@code file} through {@code body}, creating its directory if needed. A place that
   * cannot take the file is one message naming it (not the temporary sibling).
   */
  public static void write(Path file, Body body) throws IOException {
    if (Files.isDirectory(file)) {
      throw new IOException("cannot write " + file + ": it is a directory");
    }
    Path dir = file.toAbsolutePath().getParent();
    Path tmp;
    try {
      Files.createDirectories(dir);
      tmp = Files.createTempFile(dir, "." + file.getFileName(), ".tmp");
    } catch (FileSystemException e) {
      throw new IOException("cannot write " + file + ": " + reason(e), e);
    }
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

  /** Why the file system refused, in words: its reason, or what the exception's kind says. */
  static String reason(FileSystemException e) {
    if (e instanceof FileAlreadyExistsException) {
      return e.getFile() + " is not a directory";
    }
    if (e.getReason() != null) {
      return e.getReason().toLowerCase(java.util.Locale.ROOT);
    }
    return e instanceof AccessDeniedException ? "permission denied"
        : e instanceof NoSuchFileException ? "no such file or directory"
        : e.getClass().getSimpleName();
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
