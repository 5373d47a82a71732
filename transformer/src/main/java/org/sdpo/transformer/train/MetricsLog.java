package org.sdpo.transformer.train;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** A metrics file with one JSON object per line, each with a "step". */
public final class MetricsLog {
  private static final ObjectMapper JSON = new ObjectMapper();

  private MetricsLog() {}

  /** Appends one line. */
  public static void append(Path file, Map<String, Object> line) throws IOException {
    Files.writeString(file, JSON.writeValueAsString(line) + "\n", StandardCharsets.UTF_8,
        StandardOpenOption.CREATE, StandardOpenOption.APPEND);
  }

  /**
   * Drops the lines of steps after {@code step}: they were logged, then lost with an interrupted
   * run, and a resumed run logs them again.
   */
  public static void keepUpTo(Path file, int step) throws IOException {
    if (!Files.exists(file)) {
      return;
    }
    List<String> kept = new ArrayList<>();
    for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
      if (!line.isBlank() && JSON.readTree(line).path("step").asInt() <= step) {
        kept.add(line);
      }
    }
    Files.write(file, kept, StandardCharsets.UTF_8);
  }
}
