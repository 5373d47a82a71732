package org.sdpo.verifiers.code;

/** A token of the task language, with its 1-based line and column. */
record Token(Kind kind, String text, int line, int col) {
  enum Kind {
    NAME,
    INT,
    KEYWORD,
    OP,
    NEWLINE,
    INDENT,
    DEDENT,
    EOF
  }

  String describe() {
    switch (kind) {
      case NEWLINE:
        return "end of line";
      case INDENT:
        return "an indented block";
      case DEDENT:
        return "the end of the block";
      case EOF:
        return "the end of the program";
      default:
        return "'" + text + "'";
    }
  }
}
