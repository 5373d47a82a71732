package org.sdpo.transformer.chat;

/** A template that does not parse or fails while rendering; the message names the line. */
public final class JinjaException extends RuntimeException {
  public JinjaException(String message) {
    super(message);
  }

  static JinjaException at(int line, String message) {
    return new JinjaException("line " + line + ": " + message);
  }
}
