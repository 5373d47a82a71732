package org.sdpo.verifiers.code;

/** A syntax error at a 1-based line and column, with what was expected. */
final class SyntaxError extends Exception {
  final int line;
  final int col;
  final String detail;

  SyntaxError(int line, int col, String detail) {
    super("line " + line + ", column " + col + ": " + detail, null, false, false);
    this.line = line;
    this.col = col;
    this.detail = detail;
  }
}
