package org.sdpo.verifiers.code;

/**
 * An error raised while running an attempt, named like Python's ({@code ZeroDivisionError},
 * {@code NameError}, {@code TypeError}, ...), at a line and column; or the step budget running out
 * ({@link #timeout}).
 */
final class RuntimeFailure extends Exception {
  final String type;
  final String detail;
  final int line;
  final int col;
  final boolean timeout;

  RuntimeFailure(String type, String detail, Ast.Node at, boolean timeout) {
    super(type + ": " + detail, null, false, false);
    this.type = type;
    this.detail = detail;
    this.line = at == null ? 0 : at.line();
    this.col = at == null ? 0 : at.col();
    this.timeout = timeout;
  }

  static RuntimeFailure of(String type, String detail, Ast.Node at) {
    return new RuntimeFailure(type, detail, at, false);
  }

  String describe() {
    return type + ": " + detail + (line > 0 ? " (line " + line + ", column " + col + ")" : "");
  }
}
