package org.sdpo.transformer.chat;

import java.util.List;
import java.util.Map;

/** The syntax tree of a template: statements ({@link Node}) and expressions ({@link Expr}). */
final class Ast {
  private Ast() {}

  sealed interface Node permits Text, Output, If, For, Set, SetBlock, Macro, Break, Continue {}

  record Text(String text) implements Node {}

  record Output(Expr value) implements Node {}

  /** if / elif ... / else: the first true condition's body, else {@code orElse}. */
  record If(List<Expr> conditions, List<List<Node>> bodies, List<Node> orElse) implements Node {}

  /** for targets in iterable [if filter]: body, else orElse when nothing was iterated. */
  record For(List<String> targets, Expr iterable, Expr filter, List<Node> body, List<Node> orElse,
      int line) implements Node {}

  /** set name = value, set ns.attr = value (attr not null), set a, b = value (several names). */
  record Set(List<String> names, String attr, Expr value, int line) implements Node {}

  /** set name %}...{% endset: the rendered body. */
  record SetBlock(String name, List<Node> body) implements Node {}

  record Macro(String name, List<String> params, List<Expr> defaults, List<Node> body)
      implements Node {}

  record Break() implements Node {}

  record Continue() implements Node {}

  sealed interface Expr permits Lit, Name, Attr, Item, Slice, Call, Filter, Test, Unary, Binary,
      Compare, Cond, ListLit, DictLit {}

  record Lit(Object value) implements Expr {}

  record Name(String name, int line) implements Expr {}

  record Attr(Expr object, String name, int line) implements Expr {}

  record Item(Expr object, Expr key, int line) implements Expr {}

  /** object[start:stop:step], any part null when left out. */
  record Slice(Expr object, Expr start, Expr stop, Expr step, int line) implements Expr {}

  record Call(Expr function, List<Expr> args, Map<String, Expr> kwargs, int line) implements Expr {}

  record Filter(Expr value, String name, List<Expr> args, Map<String, Expr> kwargs, int line)
      implements Expr {}

  record Test(Expr value, String name, List<Expr> args, boolean negated, int line)
      implements Expr {}

  record Unary(String op, Expr operand, int line) implements Expr {}

  /** Arithmetic (+ - * / // % **), concatenation (~), and, or. */
  record Binary(String op, Expr left, Expr right, int line) implements Expr {}

  /** A chain of comparisons: a &lt; b &lt;= c, a in b, a not in b. */
  record Compare(Expr first, List<String> ops, List<Expr> rest, int line) implements Expr {}

  /** then if test else otherwise (otherwise null: undefined). */
  record Cond(Expr test, Expr then, Expr otherwise) implements Expr {}

  /** [a, b] or, when {@code tuple}, (a, b). */
  record ListLit(List<Expr> items, boolean tuple) implements Expr {}

  record DictLit(List<Expr> keys, List<Expr> values) implements Expr {}
}
