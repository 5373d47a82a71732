package org.sdpo.transformer.chat;

import java.util.ArrayList;
import java.util.List;

/**
 * Splits a template into text, {@code {{ expression }}} and {@code {% statement %}} pieces, the
 * tags already cut into expression tokens, and applies Jinja's whitespace control:
 * <ul>
 *   <li>{@code {%-}, {@code {{-}, {@code {#-} strip all whitespace before the tag, {@code -%}},
 *       {@code -}}}, {@code -#}} all whitespace after it;
 *   <li>trim_blocks: the first newline after a statement or comment tag is removed;
 *   <li>lstrip_blocks: spaces and tabs between the start of a line and a statement or comment tag
 *       are removed ({@code {%+} keeps them).
 * </ul>
 * Comments ({@code {# ... #}}) leave nothing but their whitespace effects.
 */
final class Lexer {
  /** A token inside a tag. */
  record Tok(Kind kind, String text, int line) {
    boolean is(String op) {
      return (kind == Kind.OP || kind == Kind.NAME) && text.equals(op);
    }
  }

  enum Kind { NAME, STRING, INT, FLOAT, OP }

  /** A piece of the template: text, an output tag or a statement tag. */
  record Piece(Type type, String text, List<Tok> toks, int line) {}

  enum Type { TEXT, OUTPUT, STATEMENT }

  private static final String[] OPS = {"**", "//", "==", "!=", "<=", ">=", "(", ")", "[", "]",
      "{", "}", ",", ".", ":", "|", "+", "-", "*", "/", "%", "~", "=", "<", ">"};

  private final String src;
  private int at;
  private int line = 1;

  private Lexer(String src) {
    this.src = src;
  }

  /** A raw piece before whitespace control: its strip flags. */
  private record Raw(Type type, String text, List<Tok> toks, int line, boolean comment,
      boolean stripBefore, boolean keepBefore, boolean stripAfter, boolean keepAfter) {}

  static List<Piece> lex(String src, boolean trimBlocks, boolean lstripBlocks) {
    List<Raw> raw = new Lexer(src).scan();
    List<Piece> out = new ArrayList<>();
    for (int i = 0; i < raw.size(); i++) {
      Raw r = raw.get(i);
      if (r.type() != Type.TEXT) {
        if (!r.comment()) {
          out.add(new Piece(r.type(), null, r.toks(), r.line()));
        }
        continue;
      }
      String t = r.text();
      Raw prev = i > 0 ? raw.get(i - 1) : null;
      Raw next = i + 1 < raw.size() ? raw.get(i + 1) : null;
      if (next != null) {
        boolean block = next.type() == Type.STATEMENT || next.comment();
        if (next.stripBefore()) {
          t = t.stripTrailing();
        } else if (lstripBlocks && block && !next.keepBefore()) {
          int nl = t.lastIndexOf('\n');
          String tail = t.substring(nl + 1);
          if ((nl >= 0 || i == 0) && tail.chars().allMatch(c -> c == ' ' || c == '\t')) {
            t = t.substring(0, nl + 1);
          }
        }
      }
      if (prev != null) {
        boolean block = prev.type() == Type.STATEMENT || prev.comment();
        if (prev.stripAfter()) {
          t = t.stripLeading();
        } else if (trimBlocks && block && !prev.keepAfter() && t.startsWith("\n")) {
          t = t.substring(1);
        }
      }
      if (!t.isEmpty()) {
        out.add(new Piece(Type.TEXT, t, null, r.line()));
      }
    }
    return out;
  }

  private List<Raw> scan() {
    List<Raw> out = new ArrayList<>();
    StringBuilder text = new StringBuilder();
    int textLine = line;
    while (at < src.length()) {
      char c = src.charAt(at);
      char n = at + 1 < src.length() ? src.charAt(at + 1) : 0;
      if (c == '{' && (n == '{' || n == '%' || n == '#')) {
        out.add(new Raw(Type.TEXT, text.toString(), null, textLine, false, false, false, false,
            false));
        text.setLength(0);
        out.add(tag(n));
        textLine = line;
        continue;
      }
      if (c == '\n') {
        line++;
      }
      text.append(c);
      at++;
    }
    out.add(new Raw(Type.TEXT, text.toString(), null, textLine, false, false, false, false, false));
    return out;
  }

  private Raw tag(char kind) {
    int start = line;
    at += 2;
    boolean stripBefore = peek('-');
    boolean keepBefore = peek('+');
    if (stripBefore || keepBefore) {
      at++;
    }
    if (kind == '#') {
      int end = src.indexOf("#}", at);
      if (end < 0) {
        throw JinjaException.at(start, "comment not closed with #}");
      }
      boolean stripAfter = end > at && src.charAt(end - 1) == '-';
      boolean keepAfter = end > at && src.charAt(end - 1) == '+';
      countLines(at, end + 2);
      at = end + 2;
      return new Raw(Type.STATEMENT, null, List.of(), start, true, stripBefore, keepBefore,
          stripAfter, keepAfter);
    }
    String close = kind == '{' ? "}}" : "%}";
    List<Tok> toks = new ArrayList<>();
    int depth = 0;
    while (true) {
      skipSpaces();
      if (at >= src.length()) {
        throw JinjaException.at(start, "tag not closed with " + close);
      }
      char c = src.charAt(at);
      if (depth == 0 && (c == '-' || c == '+') && src.startsWith(close, at + 1)) {
        at += 3;
        return new Raw(kind == '{' ? Type.OUTPUT : Type.STATEMENT, null, toks, start, false,
            stripBefore, keepBefore, c == '-', c == '+');
      }
      if (depth == 0 && src.startsWith(close, at)) {
        at += 2;
        return new Raw(kind == '{' ? Type.OUTPUT : Type.STATEMENT, null, toks, start, false,
            stripBefore, keepBefore, false, false);
      }
      Tok t = token();
      if (t.kind() == Kind.OP) {
        switch (t.text()) {
          case "(", "[", "{" -> depth++;
          case ")", "]", "}" -> depth = Math.max(0, depth - 1);
          default -> { }
        }
      }
      toks.add(t);
    }
  }

  private boolean peek(char c) {
    return at < src.length() && src.charAt(at) == c;
  }

  private void skipSpaces() {
    while (at < src.length() && Character.isWhitespace(src.charAt(at))) {
      if (src.charAt(at) == '\n') {
        line++;
      }
      at++;
    }
  }

  private void countLines(int from, int to) {
    for (int i = from; i < to; i++) {
      if (src.charAt(i) == '\n') {
        line++;
      }
    }
  }

  private Tok token() {
    char c = src.charAt(at);
    if (c == '\'' || c == '"') {
      return string(c);
    }
    if (Character.isDigit(c)) {
      int s = at;
      while (at < src.length() && (Character.isDigit(src.charAt(at)) || src.charAt(at) == '_')) {
        at++;
      }
      boolean isFloat = false;
      if (at + 1 < src.length() && src.charAt(at) == '.' && Character.isDigit(src.charAt(at + 1))) {
        isFloat = true;
        at++;
        while (at < src.length() && Character.isDigit(src.charAt(at))) {
          at++;
        }
      }
      if (at < src.length() && (src.charAt(at) == 'e' || src.charAt(at) == 'E')) {
        int save = at;
        at++;
        if (at < src.length() && (src.charAt(at) == '+' || src.charAt(at) == '-')) {
          at++;
        }
        if (at < src.length() && Character.isDigit(src.charAt(at))) {
          isFloat = true;
          while (at < src.length() && Character.isDigit(src.charAt(at))) {
            at++;
          }
        } else {
          at = save;
        }
      }
      return new Tok(isFloat ? Kind.FLOAT : Kind.INT, src.substring(s, at).replace("_", ""), line);
    }
    if (Character.isLetter(c) || c == '_') {
      int s = at;
      while (at < src.length() && (Character.isLetterOrDigit(src.charAt(at))
          || src.charAt(at) == '_')) {
        at++;
      }
      return new Tok(Kind.NAME, src.substring(s, at), line);
    }
    for (String op : OPS) {
      if (src.startsWith(op, at)) {
        at += op.length();
        return new Tok(Kind.OP, op, line);
      }
    }
    throw JinjaException.at(line, "unexpected character '" + c + "'");
  }

  private Tok string(char quote) {
    int start = line;
    at++;
    StringBuilder b = new StringBuilder();
    while (true) {
      if (at >= src.length()) {
        throw JinjaException.at(start, "string not closed");
      }
      char c = src.charAt(at++);
      if (c == quote) {
        return new Tok(Kind.STRING, b.toString(), start);
      }
      if (c == '\n') {
        line++;
      }
      if (c != '\\' || at >= src.length()) {
        b.append(c);
        continue;
      }
      char e = src.charAt(at++);
      switch (e) {
        case 'n' -> b.append('\n');
        case 't' -> b.append('\t');
        case 'r' -> b.append('\r');
        case '0' -> b.append('\0');
        case '\\', '\'', '"' -> b.append(e);
        case 'x' -> b.append(hex(2));
        case 'u' -> b.append(hex(4));
        case 'U' -> b.appendCodePoint(Integer.parseInt(hexDigits(8), 16));
        case '\n' -> line++; // a line continuation
        default -> b.append('\\').append(e);
      }
    }
  }

  private char hex(int n) {
    return (char) Integer.parseInt(hexDigits(n), 16);
  }

  private String hexDigits(int n) {
    if (at + n > src.length()) {
      throw JinjaException.at(line, "truncated escape in a string");
    }
    String h = src.substring(at, at + n);
    at += n;
    try {
      Integer.parseInt(h, 16);
    } catch (NumberFormatException e) {
      throw JinjaException.at(line, "bad escape \\" + h + " in a string");
    }
    return h;
  }
}
