package org.sdpo.transformer.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.sdpo.transformer.io.TextFiles;

/**
 * The settings a run recorded when it started, against the settings it is given again (to resume
 * it, or to keep it as a finished run of an experiment): a resumed run is the run it continues.
 */
public final class RunSettings {
  private RunSettings() {}

  /**
   * Refuses to resume the run in {@code out} with settings other than those it recorded in {@code
   * recorded} (apart from {@code mayChange}): a resumed run is the run it continues.
   */
  public static void checkResume(Path out, Path recorded, JsonNode now, Set<String> mayChange)
      throws IOException {
    List<String> changed = differences(recorded, now, mayChange);
    if (!changed.isEmpty()) {
      throw new IllegalArgumentException(out + ": --resume continues a run with the settings it "
          + "was started with, and these differ from its " + recorded.getFileName() + ": "
          + String.join(", ", changed) + " (put them back, or start again with --overwrite)");
    }
  }

  /**
   * The settings of {@code now} whose values differ from those recorded in {@code recorded} ("lr
   * 1.0E-4 -> 2.0E-4"), leaving out {@code mayChange} and keys the file does not have; empty if
   * the file is missing. Numbers compare by value (1 and 1.0 are the same).
   */
  public static List<String> differences(Path recorded, JsonNode now, Set<String> mayChange)
      throws IOException {
    List<String> out = new ArrayList<>();
    if (!Files.exists(recorded)) {
      return out;
    }
    JsonNode was = TextFiles.readTree(new ObjectMapper(), recorded, "JSON");
    for (Iterator<Map.Entry<String, JsonNode>> it = now.fields(); it.hasNext(); ) {
      Map.Entry<String, JsonNode> e = it.next();
      if (mayChange.contains(e.getKey()) || !was.has(e.getKey())) {
        continue;
      }
      JsonNode before = was.get(e.getKey());
      JsonNode value = e.getValue();
      boolean same = before.isNumber() && value.isNumber()
          ? before.asDouble() == value.asDouble() : before.equals(value);
      if (!same) {
        out.add(e.getKey() + " " + before + " -> " + value);
      }
    }
    return out;
  }
}
