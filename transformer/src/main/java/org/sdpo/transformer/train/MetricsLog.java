package org.sdpo.transformer.train;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Map;
import org.sdpo.transformer.io.AtomicFiles;
import org.sdpo.transformer.io.TextFiles;

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
   * run, and a resumed run logs them again. A last line cut short by the interruption goes too.
   * The file is replaced whole (a second interruption leaves it as it was).
   */
  public static void keepUpTo(Path file, int step) throws IOException {
    if (!Files.exists(file)) {
      return;
    }
    StringBuilder kept = new StringBuilder();
    for (TextFiles.JsonLine line : TextFiles.readJsonLinesAsWritten(JSON, file)) {
      if (line.node().path("step").asInt() <= step) {
        kept.append(line.text()).append('\n');
      }
    }
    AtomicFiles.writeString(file, kept);
  }
}
