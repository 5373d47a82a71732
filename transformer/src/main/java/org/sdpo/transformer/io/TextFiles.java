package org.sdpo.transformer.io;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.CharConversionException;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * Reading the text, JSON and YAML files a user hands us, with errors that name the file and say
 * what is wrong in one line: the first byte that is not UTF-8, or the line and column where the
 * JSON or YAML breaks (never a parser's class names or its "[Source: ...]" trailer).
 */
public final class TextFiles {
  /** Jackson's location inside a message, "[Source: ...; line: 2, column: 14]". */
  private static final java.util.regex.Pattern SOURCE = java.util.regex.Pattern.compile(
      "\\[Source: .*?; line: (\\d+), column: (\\d+)\\]");

  private TextFiles() {}

  /** The whole file as UTF-8 text; a file that is not UTF-8 names itself and its first bad byte. */
  public static String readString(Path file) throws IOException {
    byte[] bytes = Files.readAllBytes(file);
    ByteBuffer in = ByteBuffer.wrap(bytes);
    try {
      return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
          .onUnmappableCharacter(CodingErrorAction.REPORT).decode(in).toString();
    } catch (CharacterCodingException e) {
      // the decoder stops at the start of the sequence it could not read
      int at = in.position();
      throw new IOException(String.format(Locale.ROOT, "%s: not UTF-8 text (byte 0x%02x at offset %d)",
          file, bytes[at] & 0xff, at), e);
    }
  }

  /** The file's lines (as {@link Files#readAllLines}), strictly UTF-8 as {@link #readString}. */
  public static List<String> readLines(Path file) throws IOException {
    return readString(file).lines().toList();
  }

  /**
   * A JSON (or, with a YAML mapper, YAML) file's tree. A missing file is a {@link
   * NoSuchFileException}; anything else unreadable is an IOException saying "FILE: not valid
   * {@code what}: reason (line L, column C)".
   */
  public static JsonNode readTree(ObjectMapper mapper, Path file, String what) throws IOException {
    if (!Files.exists(file)) {
      throw new NoSuchFileException(file.toString());
    }
    try {
      return mapper.readTree(file.toFile());
    } catch (FileNotFoundException e) { // a directory, or no permission to read
      throw new IOException(file + ": cannot be read as a file", e);
    } catch (IOException e) {
      throw new IOException(file + ": not valid " + what + ": " + reason(e), e);
    }
  }

  /**
   * The JSON objects of a JSONL file, one per non-blank line. A last line without its newline that
   * does not parse was cut short by a write still under way or interrupted (each line is appended
   * whole with its newline) and is left out; any other line that does not parse is an error saying
   * "FILE, line N: not valid JSON: reason".
   */
  public static List<JsonNode> readJsonLines(ObjectMapper mapper, Path file) throws IOException {
    return readJsonLinesAsWritten(mapper, file).stream().map(JsonLine::node).toList();
  }

  /** One line of a JSONL file: its text as written and what it says. */
  public record JsonLine(String text, JsonNode node) {}

  /** {@link #readJsonLines}, each line with its text as written (to copy it byte for byte). */
  public static List<JsonLine> readJsonLinesAsWritten(ObjectMapper mapper, Path file)
      throws IOException {
    String text = readString(file);
    List<String> lines = text.lines().toList();
    List<JsonLine> out = new java.util.ArrayList<>(lines.size());
    for (int i = 0; i < lines.size(); i++) {
      if (lines.get(i).isBlank()) {
        continue;
      }
      try {
        out.add(new JsonLine(lines.get(i), mapper.readTree(lines.get(i))));
      } catch (JsonProcessingException e) {
        boolean torn = i == lines.size() - 1 && !text.endsWith("\n");
        if (!torn) {
          throw new IOException(file + ", line " + (i + 1) + ": not valid JSON: " + reason(e), e);
        }
      }
    }
    return out;
  }

  /** What a parser's exception says, in one line, without its class names and source trailer. */
  public static String reason(IOException e) {
    if (e instanceof CharacterCodingException || e instanceof CharConversionException) {
      return "not UTF-8 text"; // "Input length = 1" says nothing
    }
    if (e instanceof JsonProcessingException jp) {
      for (Throwable t = jp.getCause(); t != null; t = t.getCause()) {
        if (t instanceof CharConversionException) { // YAML's reader wraps it
          return "not UTF-8 text";
        }
      }
      var at = jp.getLocation();
      String m = jp.getOriginalMessage();
      m = m == null ? e.getClass().getSimpleName() : SOURCE.matcher(m).replaceAll("line $1, column $2")
          .replaceAll("\\s+", " ").strip();
      return at == null || at.getLineNr() < 1 ? m
          : m + " (line " + at.getLineNr() + ", column " + at.getColumnNr() + ")";
    }
    String m = e.getMessage();
    return m == null ? e.getClass().getSimpleName() : m.replace('\n', ' ');
  }
}
