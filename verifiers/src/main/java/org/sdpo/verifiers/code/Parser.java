package org.sdpo.verifiers.code;

import java.util.ArrayList;
import java.util.List;
import org.sdpo.verifiers.code.Ast.Expr;
import org.sdpo.verifiers.code.Ast.Stmt;

/**
 * Recursive-descent parser of the task language (a small subset of Python: function definitions,
 * integers, booleans, lists, if/elif/else, while, for-in, conditional expressions). Nesting is
 * limited to {@link #MAX_DEPTH} so no program can overflow the verifier's stack.
 */
final class Parser {
  static final int MAX_DEPTH = 60;

  private final List<Token> tokens;
  private int pos;
  private int depth;

  private Parser(List<Token> tokens) {
    this.tokens = tokens;
  }

  /** Parses a whole program: one or more function definitions. */
  static List<Ast.Function> parse(String src) throws SyntaxError {
    Parser p = new Parser(Lexer.lex(src));
    List<Ast.Function> fns = new ArrayList<>();
    while (p.peek().kind() == Token.Kind.NEWLINE) {
      p.pos++;
    }
    if (p.peek().kind() == Token.Kind.EOF) {
      throw p.error("expected a function definition 'def name(...):', found an empty program");
    }
    while (p.peek().kind() != Token.Kind.EOF) {
      if (p.peek().kind() == Token.Kind.NEWLINE) {
        p.pos++;
        continue;
      }
      fns.add(p.function());
    }
    return fns;
  }

  private Token peek() {
    return tokens.get(pos);
  }

  private boolean at(String text) {
    Token t = peek();
    return (t.kind() == Token.Kind.OP || t.kind() == Token.Kind.KEYWORD) && t.text().equals(text);
  }

  private Token next() {
    Token t = tokens.get(pos);
    if (t.kind() != Token.Kind.EOF) {
      pos++;
    }
    return t;
  }

  private SyntaxError error(String expected) {
    Token t = peek();
    return new SyntaxError(t.line(), t.col(), expected);
  }

  private SyntaxError expected(String what) {
    return error("expected " + what + ", found " + peek().describe());
  }

  private Token expect(String text, String context) throws SyntaxError {
    if (!at(text)) {
      throw expected("'" + text + "' " + context);
    }
    return next();
  }

  private String name(String context) throws SyntaxError {
    if (peek().kind() != Token.Kind.NAME) {
      throw expected(context);
    }
    return next().text();
  }

  private void enter() throws SyntaxError {
    if (++depth > MAX_DEPTH) {
      throw error("program nested too deeply (more than " + MAX_DEPTH + " levels)");
    }
  }

  // ---------------------------------------------------------------- definitions and statements

  private Ast.Function function() throws SyntaxError {
    Token def = peek();
    if (!at("def")) {
      throw expected("a function definition starting with 'def'");
    }
    next();
    String fname = name("a function name after 'def'");
    expect("(", "after the function name");
    List<String> params = new ArrayList<>();
    if (!at(")")) {
      params.add(name("a parameter name"));
      while (at(",")) {
        next();
        String p = name("a parameter name after ','");
        if (params.contains(p)) {
          throw new SyntaxError(tokens.get(pos - 1).line(), tokens.get(pos - 1).col(),
              "duplicate parameter '" + p + "'");
        }
        params.add(p);
      }
    }
    expect(")", "to close the parameter list");
    expect(":", "after the parameter list");
    return new Ast.Function(fname, params, suite(), def.line(), def.col());
  }

  /** A block: statements on the same line after ':', or an indented block on the next lines. */
  private List<Stmt> suite() throws SyntaxError {
    enter();
    List<Stmt> body = new ArrayList<>();
    if (peek().kind() == Token.Kind.NEWLINE) {
      next();
      if (peek().kind() != Token.Kind.INDENT) {
        throw expected("an indented block");
      }
      next();
      while (peek().kind() != Token.Kind.DEDENT && peek().kind() != Token.Kind.EOF) {
        body.add(statement());
      }
      if (peek().kind() == Token.Kind.DEDENT) {
        next();
      }
    } else {
      body.add(simple());
      endOfLine();
    }
    depth--;
    return body;
  }

  private void endOfLine() throws SyntaxError {
    if (peek().kind() == Token.Kind.NEWLINE) {
      next();
    } else if (peek().kind() != Token.Kind.EOF && peek().kind() != Token.Kind.DEDENT) {
      throw expected("end of line");
    }
  }

  private Stmt statement() throws SyntaxError {
    Token t = peek();
    if (at("if")) {
      next();
      List<Expr> conds = new ArrayList<>();
      List<List<Stmt>> bodies = new ArrayList<>();
      conds.add(expr());
      expect(":", "after the if condition");
      bodies.add(suite());
      List<Stmt> otherwise = List.of();
      while (at("elif")) {
        next();
        conds.add(expr());
        expect(":", "after the elif condition");
        bodies.add(suite());
      }
      if (at("else")) {
        next();
        expect(":", "after 'else'");
        otherwise = suite();
      }
      return new Ast.If(conds, bodies, otherwise, t.line(), t.col());
    }
    if (at("while")) {
      next();
      Expr c = expr();
      expect(":", "after the while condition");
      return new Ast.While(c, suite(), t.line(), t.col());
    }
    if (at("for")) {
      next();
      String v = name("a loop variable after 'for'");
      expect("in", "after the loop variable");
      Expr it = expr();
      expect(":", "after the for clause");
      return new Ast.For(v, it, suite(), t.line(), t.col());
    }
    if (at("elif") || at("else")) {
      throw error("'" + t.text() + "' without a matching 'if'");
    }
    if (at("def")) {
      throw error("nested function definitions are not supported");
    }
    Stmt s = simple();
    endOfLine();
    return s;
  }

  private Stmt simple() throws SyntaxError {
    Token t = peek();
    if (at("return")) {
      next();
      if (peek().kind() == Token.Kind.NEWLINE || peek().kind() == Token.Kind.EOF) {
        throw expected("a value after 'return'");
      }
      return new Ast.Return(expr(), t.line(), t.col());
    }
    if (at("pass")) {
      next();
      return new Ast.Pass(t.line(), t.col());
    }
    if (t.kind() == Token.Kind.NAME && pos + 1 < tokens.size()) {
      Token op = tokens.get(pos + 1);
      if (op.kind() == Token.Kind.OP
          && (op.text().equals("=") || op.text().equals("+=") || op.text().equals("-=")
              || op.text().equals("*="))) {
        pos += 2;
        String kind = op.text().equals("=") ? "" : op.text().substring(0, 1);
        return new Ast.Assign(t.text(), kind, expr(), t.line(), t.col());
      }
    }
    if (t.kind() == Token.Kind.NAME || t.kind() == Token.Kind.INT) {
      Expr e = expr();
      if (at("==")) {
        throw error("'==' compares; use '=' to assign");
      }
      throw new SyntaxError(e.line(), e.col(),
          "a bare expression does nothing; did you mean 'return " + describe(t) + "...'?");
    }
    throw expected("a statement (return, assignment, if, while, for)");
  }

  private static String describe(Token t) {
    return t.text();
  }

  // ---------------------------------------------------------------- expressions

  Expr expr() throws SyntaxError {
    enter();
    Expr e = or();
    if (at("if")) {
      Token t = next();
      Expr c = or();
      expect("else", "in the conditional expression 'a if condition else b'");
      Expr o = expr();
      e = new Ast.Cond(c, e, o, t.line(), t.col());
    }
    depth--;
    return e;
  }

  private Expr or() throws SyntaxError {
    Expr e = and();
    while (at("or")) {
      Token t = next();
      e = new Ast.Logic("or", e, and(), t.line(), t.col());
    }
    return e;
  }

  private Expr and() throws SyntaxError {
    Expr e = not();
    while (at("and")) {
      Token t = next();
      e = new Ast.Logic("and", e, not(), t.line(), t.col());
    }
    return e;
  }

  private Expr not() throws SyntaxError {
    if (at("not")) {
      Token t = next();
      enter();
      Expr e = new Ast.Not(not(), t.line(), t.col());
      depth--;
      return e;
    }
    return comparison();
  }

  private static final List<String> COMPARISONS = List.of("==", "!=", "<", "<=", ">", ">=");

  private Expr comparison() throws SyntaxError {
    Expr first = sum();
    if (peek().kind() != Token.Kind.OP || !COMPARISONS.contains(peek().text())) {
      if (at("=")) {
        throw error("'=' assigns; use '==' to compare");
      }
      return first;
    }
    List<String> ops = new ArrayList<>();
    List<Expr> operands = new ArrayList<>();
    operands.add(first);
    while (peek().kind() == Token.Kind.OP && COMPARISONS.contains(peek().text())) {
      ops.add(next().text());
      operands.add(sum());
    }
    return new Ast.Compare(ops, operands, first.line(), first.col());
  }

  private Expr sum() throws SyntaxError {
    Expr e = term();
    while (at("+") || at("-")) {
      Token t = next();
      e = new Ast.Binary(t.text(), e, term(), t.line(), t.col());
    }
    return e;
  }

  private Expr term() throws SyntaxError {
    Expr e = unary();
    while (at("*") || at("//") || at("%") || at("/")) {
      Token t = next();
      if (t.text().equals("/")) {
        throw new SyntaxError(t.line(), t.col(), "'/' is not supported: use '//' for integer division");
      }
      e = new Ast.Binary(t.text(), e, unary(), t.line(), t.col());
    }
    return e;
  }

  private Expr unary() throws SyntaxError {
    if (at("-") || at("+")) {
      Token t = next();
      enter();
      Expr e = new Ast.Unary(t.text(), unary(), t.line(), t.col());
      depth--;
      return e;
    }
    return power();
  }

  private Expr power() throws SyntaxError {
    Expr base = postfix();
    if (at("**")) {
      Token t = next();
      enter();
      Expr e = new Ast.Binary("**", base, unary(), t.line(), t.col());
      depth--;
      return e;
    }
    return base;
  }

  private Expr postfix() throws SyntaxError {
    Expr e = primary();
    while (at("[")) {
      Token t = next();
      Expr i = expr();
      expect("]", "to close the index");
      e = new Ast.Index(e, i, t.line(), t.col());
    }
    return e;
  }

  private Expr primary() throws SyntaxError {
    Token t = peek();
    switch (t.kind()) {
      case INT:
        next();
        try {
          return new Ast.IntLit(Long.parseLong(t.text()), t.line(), t.col());
        } catch (NumberFormatException e) {
          throw new SyntaxError(t.line(), t.col(), "integer literal too large: " + abbreviate(t.text()));
        }
      case NAME: {
        next();
        if (at("(")) {
          next();
          List<Expr> args = new ArrayList<>();
          if (!at(")")) {
            args.add(expr());
            while (at(",")) {
              next();
              args.add(expr());
            }
          }
          expect(")", "to close the argument list of " + t.text() + "(...)");
          return new Ast.Call(t.text(), args, t.line(), t.col());
        }
        return new Ast.Name(t.text(), t.line(), t.col());
      }
      case KEYWORD:
        if (at("True") || at("False")) {
          next();
          return new Ast.BoolLit(t.text().equals("True"), t.line(), t.col());
        }
        throw expected("a value");
      case OP:
        if (at("(")) {
          next();
          Expr e = expr();
          expect(")", "to close the parenthesis");
          return e;
        }
        if (at("[")) {
          next();
          List<Expr> items = new ArrayList<>();
          if (!at("]")) {
            items.add(expr());
            while (at(",")) {
              next();
              items.add(expr());
            }
          }
          expect("]", "to close the list");
          return new Ast.ListLit(items, t.line(), t.col());
        }
        throw expected("a value");
      default:
        throw expected("a value");
    }
  }

  private static String abbreviate(String s) {
    return s.length() <= 30 ? s : s.substring(0, 27) + "...";
  }
}
