package org.sdpo.verifiers.code;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.Set;

/**
 * Splits a program into tokens, Python style: indentation at the start of a line becomes INDENT
 * and DEDENT tokens, and blank lines and {@code #} comments are skipped. Tabs count as 4 spaces.
 */
final class Lexer {
  static final Set<String> KEYWORDS = Set.of("def", "return", "if", "elif", "else", "while",
      "for", "in", "and", "or", "not", "True", "False", "pass");
  private static final String[] OPS = {"**", "//", "==", "!=", "<=", ">=", "+=", "-=", "*=", "+",
      "-", "*", "/", "%", "<", ">", "=", "(", ")", "[", "]", ",", ":"};
  static final int MAX_TOKENS = 20_000;

  private Lexer() {}

  static List<Token> lex(String src) throws SyntaxError {
    List<Token> out = new ArrayList<>();
    Deque<Integer> indents = new ArrayDeque<>();
    indents.push(0);
    String[] lines = src.replace("\r\n", "\n").replace('\r', '\n').split("\n", -1);
    int depth = 0; // open brackets: inside them, newlines and indentation do not count
    for (int ln = 0; ln < lines.length; ln++) {
      String line = lines[ln];
      int i = 0;
      int width = 0;
      while (i < line.length() && (line.charAt(i) == ' ' || line.charAt(i) == '\t')) {
        width += line.charAt(i) == '\t' ? 4 - width % 4 : 1;
        i++;
      }
      if (i >= line.length() || line.charAt(i) == '#') {
        continue; // blank or comment-only line
      }
      if (depth == 0) {
        if (width > indents.peek()) {
          indents.push(width);
          out.add(new Token(Token.Kind.INDENT, "", ln + 1, i + 1));
        } else {
          while (width < indents.peek()) {
            indents.pop();
            out.add(new Token(Token.Kind.DEDENT, "", ln + 1, i + 1));
          }
          if (width != indents.peek()) {
            throw new SyntaxError(ln + 1, i + 1,
                "unindent does not match any outer indentation level");
          }
        }
      }
      while (i < line.length()) {
        char c = line.charAt(i);
        if (c == ' ' || c == '\t') {
          i++;
          continue;
        }
        if (c == '#') {
          break;
        }
        int col = i + 1;
        if (Character.isDigit(c)) {
          int s = i;
          while (i < line.length() && Character.isDigit(line.charAt(i))) {
            i++;
          }
          if (i < line.length() && (Character.isLetter(line.charAt(i)) || line.charAt(i) == '_')) {
            throw new SyntaxError(ln + 1, i + 1, "invalid number '" + line.substring(s, i + 1) + "'");
          }
          if (i < line.length() && line.charAt(i) == '.') {
            throw new SyntaxError(ln + 1, i + 1, "only integers are supported, found a decimal point");
          }
          out.add(new Token(Token.Kind.INT, line.substring(s, i), ln + 1, col));
        } else if (Character.isLetter(c) || c == '_') {
          int s = i;
          while (i < line.length()
              && (Character.isLetterOrDigit(line.charAt(i)) || line.charAt(i) == '_')) {
            i++;
          }
          String w = line.substring(s, i);
          out.add(new Token(KEYWORDS.contains(w) ? Token.Kind.KEYWORD : Token.Kind.NAME, w, ln + 1,
              col));
        } else {
          String op = null;
          for (String o : OPS) {
            if (line.startsWith(o, i)) {
              op = o;
              break;
            }
          }
          if (op == null) {
            String what = c == '"' || c == '\'' ? "strings are not supported"
                : Character.isISOControl(c) || Character.isSurrogate(c) || c > 126
                    ? String.format("invalid character U+%04X", (int) c)
                    : "invalid character '" + c + "'";
            throw new SyntaxError(ln + 1, col, what);
          }
          if (op.equals("(") || op.equals("[")) {
            depth++;
          } else if ((op.equals(")") || op.equals("]")) && depth > 0) {
            depth--;
          }
          out.add(new Token(Token.Kind.OP, op, ln + 1, col));
          i += op.length();
        }
        if (out.size() > MAX_TOKENS) {
          throw new SyntaxError(ln + 1, col, "program too long (more than " + MAX_TOKENS + " tokens)");
        }
      }
      if (depth == 0 && !out.isEmpty() && out.get(out.size() - 1).kind() != Token.Kind.NEWLINE) {
        out.add(new Token(Token.Kind.NEWLINE, "", ln + 1, line.length() + 1));
      }
    }
    int last = lines.length;
    while (indents.peek() > 0) {
      indents.pop();
      out.add(new Token(Token.Kind.DEDENT, "", last, 1));
    }
    out.add(new Token(Token.Kind.EOF, "", last, 1));
    return out;
  }
}
