package org.sdpo.verifiers.code;

import java.util.List;

/** The syntax tree of the task language. Every node knows its line and column. */
final class Ast {
  private Ast() {}

  interface Node {
    int line();

    int col();
  }

  // ---------------------------------------------------------------- expressions

  sealed interface Expr extends Node permits IntLit, BoolLit, Name, Unary, Binary, Compare, Logic,
      Not, Cond, Call, ListLit, Index {}

  record IntLit(long value, int line, int col) implements Expr {}

  record BoolLit(boolean value, int line, int col) implements Expr {}

  record Name(String id, int line, int col) implements Expr {}

  record Unary(String op, Expr operand, int line, int col) implements Expr {}

  record Binary(String op, Expr left, Expr right, int line, int col) implements Expr {}

  /** A chain a &lt; b &lt;= c, as in Python. */
  record Compare(List<String> ops, List<Expr> operands, int line, int col) implements Expr {}

  record Logic(String op, Expr left, Expr right, int line, int col) implements Expr {}

  record Not(Expr operand, int line, int col) implements Expr {}

  /** {@code then if cond else otherwise}. */
  record Cond(Expr cond, Expr then, Expr otherwise, int line, int col) implements Expr {}

  record Call(String name, List<Expr> args, int line, int col) implements Expr {}

  record ListLit(List<Expr> items, int line, int col) implements Expr {}

  record Index(Expr target, Expr index, int line, int col) implements Expr {}

  // ---------------------------------------------------------------- statements

  sealed interface Stmt extends Node permits Return, Assign, If, While, For, Pass {}

  record Return(Expr value, int line, int col) implements Stmt {}

  /** {@code name = value}, or {@code name op= value} with op one of + - *. */
  record Assign(String name, String op, Expr value, int line, int col) implements Stmt {}

  record If(List<Expr> conds, List<List<Stmt>> bodies, List<Stmt> otherwise, int line, int col)
      implements Stmt {}

  record While(Expr cond, List<Stmt> body, int line, int col) implements Stmt {}

  record For(String var, Expr iterable, List<Stmt> body, int line, int col) implements Stmt {}

  record Pass(int line, int col) implements Stmt {}

  record Function(String name, List<String> params, List<Stmt> body, int line, int col)
      implements Node {}
}
