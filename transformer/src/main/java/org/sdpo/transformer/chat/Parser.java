package org.sdpo.transformer.chat;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.sdpo.transformer.chat.Ast.Expr;
import org.sdpo.transformer.chat.Ast.Node;
import org.sdpo.transformer.chat.Lexer.Kind;
import org.sdpo.transformer.chat.Lexer.Piece;
import org.sdpo.transformer.chat.Lexer.Tok;
import org.sdpo.transformer.chat.Lexer.Type;

/**
 * Builds the syntax tree from the lexer's pieces. Statements: if/elif/else, for (tuple targets,
 * an if filter, else), set (names, namespace attributes, blocks), macro, break, continue, and
 * generation (rendered as its body). Expressions follow Jinja's precedence, loosest first:
 * conditional, or, and, not, comparisons (== != &lt; &lt;= &gt; &gt;= in, not in), + and -,
 * ~, * / // %, **, unary - and +, then filters (|) and tests (is) on a primary with its
 * attribute, subscript, slice and call suffixes.
 */
final class Parser {
  private final List<Piece> pieces;
  private int p;
  // the tokens of the statement or output tag being parsed
  private List<Tok> toks;
  private int t;
  private int line;

  private Parser(List<Piece> pieces) {
    this.pieces = pieces;
  }

  static List<Node> parse(List<Piece> pieces) {
    Parser parser = new Parser(pieces);
    List<Node> body = parser.block(Set.of());
    if (parser.p < pieces.size()) {
      Piece extra = pieces.get(parser.p);
      throw JinjaException.at(extra.line(), "unexpected '" + extra.toks().get(0).text() + "'");
    }
    return body;
  }

  /** Nodes until a statement whose keyword is in {@code stops} (left unconsumed) or the end. */
  private List<Node> block(Set<String> stops) {
    List<Node> out = new ArrayList<>();
    while (p < pieces.size()) {
      Piece piece = pieces.get(p);
      switch (piece.type()) {
        case TEXT -> {
          out.add(new Ast.Text(piece.text()));
          p++;
        }
        case OUTPUT -> {
          enter(piece);
          out.add(new Ast.Output(expression()));
          end();
        }
        case STATEMENT -> {
          if (piece.toks().isEmpty()) {
            throw JinjaException.at(piece.line(), "empty statement tag");
          }
          String kw = piece.toks().get(0).text();
          if (stops.contains(kw)) {
            return out;
          }
          out.add(statement(piece));
        }
        default -> throw new IllegalStateException();
      }
    }
    if (!stops.isEmpty()) {
      throw JinjaException.at(pieces.isEmpty() ? 1 : pieces.get(pieces.size() - 1).line(),
          "missing " + String.join(" or ", stops.stream().sorted().toList()));
    }
    return out;
  }

  private void enter(Piece piece) {
    toks = piece.toks();
    t = 0;
    line = piece.line();
    p++;
  }

  private void end() {
    if (t < toks.size()) {
      throw JinjaException.at(toks.get(t).line(), "unexpected '" + toks.get(t).text() + "'");
    }
  }

  private Node statement(Piece piece) {
    enter(piece);
    String kw = next().text();
    switch (kw) {
      case "if":
        return ifStatement();
      case "for":
        return forStatement();
      case "set":
        return setStatement();
      case "macro":
        return macro();
      case "break":
        end();
        return new Ast.Break();
      case "continue":
        end();
        return new Ast.Continue();
      case "generation": { // transformers' assistant-mask marker: render the body
        end();
        List<Node> body = block(Set.of("endgeneration"));
        enter(pieces.get(p));
        next();
        end();
        return new Ast.If(List.of(new Ast.Lit(true)), List.of(body), List.of());
      }
      default:
        throw JinjaException.at(line, "unknown statement '" + kw + "'");
    }
  }

  private Node ifStatement() {
    List<Expr> conds = new ArrayList<>();
    List<List<Node>> bodies = new ArrayList<>();
    conds.add(expression());
    end();
    while (true) {
      bodies.add(block(Set.of("elif", "else", "endif")));
      enter(pieces.get(p));
      String kw = next().text();
      if (kw.equals("elif")) {
        conds.add(expression());
        end();
        continue;
      }
      List<Node> orElse = List.of();
      if (kw.equals("else")) {
        end();
        orElse = block(Set.of("endif"));
        enter(pieces.get(p));
        next();
      }
      end();
      return new Ast.If(conds, bodies, orElse);
    }
  }

  private Node forStatement() {
    int at = line;
    List<String> targets = new ArrayList<>();
    do {
      targets.add(name());
    } while (accept(","));
    expect("in");
    Expr iterable = or(); // no conditional here: "if" starts the loop filter
    Expr filter = accept("if") ? or() : null;
    end();
    List<Node> body = block(Set.of("else", "endfor"));
    enter(pieces.get(p));
    List<Node> orElse = List.of();
    if (next().text().equals("else")) {
      end();
      orElse = block(Set.of("endfor"));
      enter(pieces.get(p));
      next();
    }
    end();
    return new Ast.For(targets, iterable, filter, body, orElse, at);
  }

  private Node setStatement() {
    int at = line;
    List<String> names = new ArrayList<>();
    names.add(name());
    String attr = null;
    if (accept(".")) {
      attr = name();
    }
    while (attr == null && accept(",")) {
      names.add(name());
    }
    if (t >= toks.size() && attr == null && names.size() == 1) { // block set
      List<Node> body = block(Set.of("endset"));
      enter(pieces.get(p));
      next();
      end();
      return new Ast.SetBlock(names.get(0), body);
    }
    expect("=");
    Expr value = expression();
    end();
    return new Ast.Set(names, attr, value, at);
  }

  private Node macro() {
    String name = name();
    expect("(");
    List<String> params = new ArrayList<>();
    List<Expr> defaults = new ArrayList<>();
    while (!accept(")")) {
      params.add(name());
      defaults.add(accept("=") ? expression() : null);
      if (!peekIs(")")) {
        expect(",");
      }
    }
    end();
    List<Node> body = block(Set.of("endmacro"));
    enter(pieces.get(p));
    next();
    end();
    return new Ast.Macro(name, params, defaults, body);
  }

  // ------------------------------------------------------------ expressions

  Expr expression() {
    Expr e = or();
    if (accept("if")) {
      Expr test = or();
      Expr otherwise = accept("else") ? expression() : null;
      return new Ast.Cond(test, e, otherwise);
    }
    return e;
  }

  private Expr or() {
    Expr e = and();
    while (peekIs("or")) {
      int at = next().line();
      e = new Ast.Binary("or", e, and(), at);
    }
    return e;
  }

  private Expr and() {
    Expr e = not();
    while (peekIs("and")) {
      int at = next().line();
      e = new Ast.Binary("and", e, not(), at);
    }
    return e;
  }

  private Expr not() {
    if (peekIs("not")) {
      int at = next().line();
      return new Ast.Unary("not", not(), at);
    }
    return compare();
  }

  private static final Set<String> COMPARISONS = Set.of("==", "!=", "<", "<=", ">", ">=");

  private Expr compare() {
    int at = line;
    Expr first = math1();
    List<String> ops = new ArrayList<>();
    List<Expr> rest = new ArrayList<>();
    while (t < toks.size()) {
      Tok k = toks.get(t);
      if (k.kind() == Kind.OP && COMPARISONS.contains(k.text())) {
        t++;
        ops.add(k.text());
      } else if (k.is("in")) {
        t++;
        ops.add("in");
      } else if (k.is("not") && t + 1 < toks.size() && toks.get(t + 1).is("in")) {
        t += 2;
        ops.add("not in");
      } else {
        break;
      }
      rest.add(math1());
    }
    return ops.isEmpty() ? first : new Ast.Compare(first, ops, rest, at);
  }

  private Expr math1() {
    Expr e = concat();
    while (peekOp("+") || peekOp("-")) {
      Tok op = next();
      e = new Ast.Binary(op.text(), e, concat(), op.line());
    }
    return e;
  }

  private Expr concat() {
    Expr e = math2();
    while (peekOp("~")) {
      int at = next().line();
      e = new Ast.Binary("~", e, math2(), at);
    }
    return e;
  }

  private Expr math2() {
    Expr e = pow();
    while (peekOp("*") || peekOp("/") || peekOp("//") || peekOp("%")) {
      Tok op = next();
      e = new Ast.Binary(op.text(), e, pow(), op.line());
    }
    return e;
  }

  private Expr pow() {
    Expr e = unary();
    while (peekOp("**")) {
      int at = next().line();
      e = new Ast.Binary("**", e, unary(), at);
    }
    return e;
  }

  /** Unary minus and plus bind looser than filters only on their operand: -3|abs is (-3)|abs. */
  private Expr unary() {
    return filters(unaryOperand());
  }

  private Expr unaryOperand() {
    if (peekOp("-") || peekOp("+")) {
      Tok op = next();
      return new Ast.Unary(op.text(), unaryOperand(), op.line());
    }
    return postfix(primary());
  }

  private Expr filters(Expr e) {
    while (true) {
      if (peekOp("|")) {
        int at = next().line();
        String name = dottedName();
        List<Expr> args = new ArrayList<>();
        Map<String, Expr> kwargs = new LinkedHashMap<>();
        if (peekOp("(")) {
          next();
          arguments(args, kwargs);
        }
        e = postfix(new Ast.Filter(e, name, args, kwargs, at));
      } else if (peekIs("is")) {
        int at = next().line();
        boolean negated = accept("not");
        String name = name();
        List<Expr> args = new ArrayList<>();
        if (peekOp("(")) {
          next();
          arguments(args, new LinkedHashMap<>());
        } else if (t < toks.size() && startsPrimary(toks.get(t))) {
          args.add(postfix(primary())); // "is divisibleby 3", "is sameas none"
        }
        e = new Ast.Test(e, name, args, negated, at);
      } else {
        return e;
      }
    }
  }

  private boolean startsPrimary(Tok k) {
    return switch (k.kind()) {
      case STRING, INT, FLOAT -> true;
      case NAME -> !Set.of("and", "or", "if", "else", "in", "not", "is").contains(k.text());
      case OP -> k.text().equals("(") || k.text().equals("[") || k.text().equals("{");
    };
  }

  private String dottedName() {
    StringBuilder b = new StringBuilder(name());
    while (peekOp(".") ) {
      next();
      b.append('.').append(name());
    }
    return b.toString();
  }

  private Expr postfix(Expr e) {
    while (t < toks.size()) {
      Tok k = toks.get(t);
      if (k.is(".")) {
        t++;
        Tok n = next();
        if (n.kind() == Kind.INT) { // a.0 is a[0]
          e = new Ast.Item(e, new Ast.Lit(Long.parseLong(n.text())), n.line());
        } else if (n.kind() == Kind.NAME) {
          e = new Ast.Attr(e, n.text(), n.line());
        } else {
          throw JinjaException.at(n.line(), "expected a name after '.', got '" + n.text() + "'");
        }
      } else if (k.is("[")) {
        t++;
        e = subscript(e, k.line());
      } else if (k.is("(")) {
        t++;
        List<Expr> args = new ArrayList<>();
        Map<String, Expr> kwargs = new LinkedHashMap<>();
        arguments(args, kwargs);
        e = new Ast.Call(e, args, kwargs, k.line());
      } else {
        return e;
      }
    }
    return e;
  }

  private Expr subscript(Expr e, int at) {
    Expr[] parts = new Expr[3];
    int part = 0;
    boolean slice = false;
    while (!peekOp("]")) {
      if (peekOp(":")) {
        next();
        slice = true;
        if (++part > 2) {
          throw JinjaException.at(at, "a slice has at most start:stop:step");
        }
        continue;
      }
      parts[part] = expression();
      if (!peekOp(":") && !peekOp("]")) {
        throw JinjaException.at(at, "expected ':' or ']' in a subscript");
      }
    }
    next();
    if (!slice) {
      if (parts[0] == null) {
        throw JinjaException.at(at, "empty subscript []");
      }
      return new Ast.Item(e, parts[0], at);
    }
    return new Ast.Slice(e, parts[0], parts[1], parts[2], at);
  }

  /** Arguments after "(" up to and including ")": positional, then name=value. */
  private void arguments(List<Expr> args, Map<String, Expr> kwargs) {
    while (!accept(")")) {
      if (t + 1 < toks.size() && toks.get(t).kind() == Kind.NAME && toks.get(t + 1).is("=")) {
        String k = next().text();
        next();
        kwargs.put(k, expression());
      } else {
        if (!kwargs.isEmpty()) {
          throw JinjaException.at(line, "a positional argument after a keyword argument");
        }
        args.add(expression());
      }
      if (!peekOp(")")) {
        expect(",");
      }
    }
  }

  private Expr primary() {
    if (t >= toks.size()) {
      throw JinjaException.at(line, "expression ends too early");
    }
    Tok k = next();
    switch (k.kind()) {
      case STRING: {
        StringBuilder s = new StringBuilder(k.text());
        while (t < toks.size() && toks.get(t).kind() == Kind.STRING) { // "a" "b" is "ab"
          s.append(next().text());
        }
        return new Ast.Lit(s.toString());
      }
      case INT:
        return new Ast.Lit(Long.parseLong(k.text()));
      case FLOAT:
        return new Ast.Lit(Double.parseDouble(k.text()));
      case NAME:
        switch (k.text()) {
          case "true", "True":
            return new Ast.Lit(true);
          case "false", "False":
            return new Ast.Lit(false);
          case "none", "None":
            return new Ast.Lit(null);
          default:
            return new Ast.Name(k.text(), k.line());
        }
      default:
        break;
    }
    switch (k.text()) {
      case "(": {
        if (accept(")")) {
          return new Ast.ListLit(List.of(), true); // the empty tuple
        }
        Expr e = expression();
        if (peekOp(",")) { // a tuple
          List<Expr> items = new ArrayList<>(List.of(e));
          while (accept(",") && !peekOp(")")) {
            items.add(expression());
          }
          expect(")");
          return new Ast.ListLit(items, true);
        }
        expect(")");
        return e;
      }
      case "[": {
        List<Expr> items = new ArrayList<>();
        while (!accept("]")) {
          items.add(expression());
          if (!peekOp("]")) {
            expect(",");
          }
        }
        return new Ast.ListLit(items, false);
      }
      case "{": {
        List<Expr> keys = new ArrayList<>();
        List<Expr> values = new ArrayList<>();
        while (!accept("}")) {
          keys.add(expression());
          expect(":");
          values.add(expression());
          if (!peekOp("}")) {
            expect(",");
          }
        }
        return new Ast.DictLit(keys, values);
      }
      default:
        throw JinjaException.at(k.line(), "unexpected '" + k.text() + "'");
    }
  }

  // ------------------------------------------------------------ token helpers

  private Tok next() {
    if (t >= toks.size()) {
      throw JinjaException.at(line, "tag ends too early");
    }
    return toks.get(t++);
  }

  private String name() {
    Tok k = next();
    if (k.kind() != Kind.NAME) {
      throw JinjaException.at(k.line(), "expected a name, got '" + k.text() + "'");
    }
    return k.text();
  }

  private boolean peekIs(String s) {
    return t < toks.size() && toks.get(t).is(s) && toks.get(t).kind() != Kind.STRING;
  }

  private boolean peekOp(String s) {
    return t < toks.size() && toks.get(t).kind() == Kind.OP && toks.get(t).text().equals(s);
  }

  private boolean accept(String s) {
    if (peekIs(s)) {
      t++;
      return true;
    }
    return false;
  }

  private void expect(String s) {
    if (!accept(s)) {
      String got = t < toks.size() ? "'" + toks.get(t).text() + "'" : "the end of the tag";
      throw JinjaException.at(t < toks.size() ? toks.get(t).line() : line, "expected '" + s
          + "', got " + got);
    }
  }

}
