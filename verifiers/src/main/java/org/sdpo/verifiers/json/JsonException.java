package org.sdpo.verifiers.json;

/** A JSON syntax error, with the line and column (both from 1) where it was found. */
public final class JsonException extends RuntimeException {
  private final int line;
  private final int column;

  public JsonException(String message, int line, int column) {
    super("line " + line + ", column " + column + ": " + message);
    this.line = line;
    this.column = column;
  }

  public int line() {
    return line;
  }

  public int column() {
    return column;
  }
}
