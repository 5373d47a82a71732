package org.sdpo.verifiers.code;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.sdpo.verifiers.code.Ast.Expr;
import org.sdpo.verifiers.code.Ast.Stmt;

/**
 * Runs programs of the task language. Values are {@code Long} (64-bit; overflow is an error, as
 * the tasks never need more), {@code Boolean} and immutable {@code List<Object>}.
 *
 * <p>Bounded: every evaluated node costs one step of a budget, recursion is limited to {@link
 * #MAX_CALL_DEPTH} calls, and lists to {@link #MAX_LIST} elements, so any attempt finishes quickly
 * with a result or a {@link RuntimeFailure}.
 */
final class Interpreter {
  static final int MAX_CALL_DEPTH = 100;
  static final int MAX_LIST = 10_000;

  private final Map<String, Ast.Function> functions = new HashMap<>();
  private final long budget;
  private long steps;
  private int callDepth;

  Interpreter(List<Ast.Function> program, long budget) {
    for (Ast.Function f : program) {
      functions.put(f.name(), f);
    }
    this.budget = budget;
  }

  /** Steps used so far. */
  long steps() {
    return steps;
  }

  /** Calls a function of the program with the given argument values. */
  Object call(String name, List<Object> args, Ast.Node at) throws RuntimeFailure {
    Ast.Function f = functions.get(name);
    if (f == null) {
      return builtin(name, args, at);
    }
    if (args.size() != f.params().size()) {
      throw RuntimeFailure.of("TypeError", name + "() takes " + f.params().size() + " argument"
          + (f.params().size() == 1 ? "" : "s") + " but " + args.size()
          + (args.size() == 1 ? " was" : " were") + " given", at);
    }
    if (++callDepth > MAX_CALL_DEPTH) {
      callDepth--;
      throw RuntimeFailure.of("RecursionError", "maximum recursion depth (" + MAX_CALL_DEPTH
          + ") exceeded in " + name + "()", at);
    }
    Map<String, Object> env = new HashMap<>();
    for (int i = 0; i < args.size(); i++) {
      env.put(f.params().get(i), args.get(i));
    }
    try {
      Object r = block(f.body(), env);
      if (r == NO_RETURN) {
        throw RuntimeFailure.of("ValueError", name + "() ended without returning a value", f);
      }
      return r;
    } finally {
      callDepth--;
    }
  }

  private static final Object NO_RETURN = new Object();

  private void tick(Ast.Node at) throws RuntimeFailure {
    if (++steps > budget) {
      throw new RuntimeFailure("TimeLimitExceeded", "more than " + budget + " steps", at, true);
    }
  }

  private Object block(List<Stmt> body, Map<String, Object> env) throws RuntimeFailure {
    for (Stmt s : body) {
      Object r = stmt(s, env);
      if (r != NO_RETURN) {
        return r;
      }
    }
    return NO_RETURN;
  }

  private Object stmt(Stmt s, Map<String, Object> env) throws RuntimeFailure {
    tick(s);
    if (s instanceof Ast.Return r) {
      return eval(r.value(), env);
    }
    if (s instanceof Ast.Assign a) {
      Object v = eval(a.value(), env);
      if (!a.op().isEmpty()) {
        Object old = env.get(a.name());
        if (old == null) {
          throw RuntimeFailure.of("NameError", "name '" + a.name() + "' is not defined", a);
        }
        v = arith(a.op(), old, v, a);
      }
      env.put(a.name(), v);
      return NO_RETURN;
    }
    if (s instanceof Ast.If i) {
      for (int k = 0; k < i.conds().size(); k++) {
        if (truth(eval(i.conds().get(k), env), i.conds().get(k))) {
          return block(i.bodies().get(k), env);
        }
      }
      return block(i.otherwise(), env);
    }
    if (s instanceof Ast.While w) {
      while (truth(eval(w.cond(), env), w.cond())) {
        Object r = block(w.body(), env);
        if (r != NO_RETURN) {
          return r;
        }
        tick(w);
      }
      return NO_RETURN;
    }
    if (s instanceof Ast.For f) {
      Object it = eval(f.iterable(), env);
      if (!(it instanceof List<?> items)) {
        throw RuntimeFailure.of("TypeError", "'" + typeName(it) + "' object is not iterable", f.iterable());
      }
      for (Object item : items) {
        env.put(f.var(), item);
        Object r = block(f.body(), env);
        if (r != NO_RETURN) {
          return r;
        }
        tick(f);
      }
      return NO_RETURN;
    }
    return NO_RETURN; // pass
  }

  Object eval(Expr e, Map<String, Object> env) throws RuntimeFailure {
    tick(e);
    if (e instanceof Ast.IntLit i) {
      return i.value();
    }
    if (e instanceof Ast.BoolLit b) {
      return b.value();
    }
    if (e instanceof Ast.Name n) {
      Object v = env.get(n.id());
      if (v == null) {
        if (functions.containsKey(n.id()) || BUILTINS.contains(n.id())) {
          throw RuntimeFailure.of("TypeError", "'" + n.id() + "' is a function; call it with "
              + n.id() + "(...)", n);
        }
        throw RuntimeFailure.of("NameError", "name '" + n.id() + "' is not defined", n);
      }
      return v;
    }
    if (e instanceof Ast.Unary u) {
      Object v = eval(u.operand(), env);
      long x = integer(v, "unary " + u.op(), u);
      if (u.op().equals("+")) {
        return x;
      }
      if (x == Long.MIN_VALUE) {
        throw overflow(u);
      }
      return -x;
    }
    if (e instanceof Ast.Binary b) {
      return arith(b.op(), eval(b.left(), env), eval(b.right(), env), b);
    }
    if (e instanceof Ast.Compare c) {
      Object left = eval(c.operands().get(0), env);
      for (int k = 0; k < c.ops().size(); k++) {
        Object right = eval(c.operands().get(k + 1), env);
        if (!compare(c.ops().get(k), left, right, c)) {
          return false;
        }
        left = right;
      }
      return true;
    }
    if (e instanceof Ast.Logic l) {
      Object left = eval(l.left(), env);
      boolean t = truth(left, l.left());
      if (l.op().equals("and") ? !t : t) {
        return left;
      }
      return eval(l.right(), env);
    }
    if (e instanceof Ast.Not n) {
      return !truth(eval(n.operand(), env), n.operand());
    }
    if (e instanceof Ast.Cond c) {
      return truth(eval(c.cond(), env), c.cond()) ? eval(c.then(), env) : eval(c.otherwise(), env);
    }
    if (e instanceof Ast.Call c) {
      List<Object> args = new ArrayList<>(c.args().size());
      for (Expr a : c.args()) {
        args.add(eval(a, env));
      }
      return call(c.name(), args, c);
    }
    if (e instanceof Ast.ListLit l) {
      List<Object> items = new ArrayList<>(l.items().size());
      for (Expr a : l.items()) {
        items.add(eval(a, env));
      }
      return List.copyOf(items);
    }
    if (e instanceof Ast.Index ix) {
      Object target = eval(ix.target(), env);
      Object index = eval(ix.index(), env);
      if (!(target instanceof List<?> items)) {
        throw RuntimeFailure.of("TypeError", "'" + typeName(target) + "' object is not subscriptable", ix);
      }
      long i = integer(index, "list index", ix);
      long k = i < 0 ? i + items.size() : i;
      if (k < 0 || k >= items.size()) {
        throw RuntimeFailure.of("IndexError", "list index " + i + " out of range for a list of length "
            + items.size(), ix);
      }
      return items.get((int) k);
    }
    throw new IllegalStateException("unknown node " + e);
  }

  static final java.util.Set<String> BUILTINS = java.util.Set.of("abs", "min", "max", "len",
      "range", "sum");

  private Object builtin(String name, List<Object> args, Ast.Node at) throws RuntimeFailure {
    switch (name) {
      case "abs": {
        arity(name, args, 1, at);
        long x = integer(args.get(0), "abs()", at);
        if (x == Long.MIN_VALUE) {
          throw overflow(at);
        }
        return Math.abs(x);
      }
      case "len":
        arity(name, args, 1, at);
        if (!(args.get(0) instanceof List<?> l)) {
          throw RuntimeFailure.of("TypeError", "object of type '" + typeName(args.get(0))
              + "' has no len()", at);
        }
        return (long) l.size();
      case "min":
      case "max": {
        List<?> items = args.size() == 1 && args.get(0) instanceof List<?> l ? l : args;
        if (items.isEmpty()) {
          throw RuntimeFailure.of("ValueError", name + "() of an empty sequence", at);
        }
        long best = integer(items.get(0), name + "()", at);
        for (Object o : items) {
          long v = integer(o, name + "()", at);
          best = name.equals("min") ? Math.min(best, v) : Math.max(best, v);
        }
        return best;
      }
      case "sum": {
        arity(name, args, 1, at);
        if (!(args.get(0) instanceof List<?> l)) {
          throw RuntimeFailure.of("TypeError", "sum() needs a list, got '" + typeName(args.get(0))
              + "'", at);
        }
        long s = 0;
        for (Object o : l) {
          s = add(s, integer(o, "sum()", at), at);
        }
        return s;
      }
      case "range": {
        if (args.isEmpty() || args.size() > 3) {
          throw RuntimeFailure.of("TypeError", "range() takes 1 to 3 arguments but " + args.size()
              + " were given", at);
        }
        long start = args.size() == 1 ? 0 : integer(args.get(0), "range()", at);
        long stop = integer(args.get(args.size() == 1 ? 0 : 1), "range()", at);
        long step = args.size() == 3 ? integer(args.get(2), "range()", at) : 1;
        if (step == 0) {
          throw RuntimeFailure.of("ValueError", "range() step must not be zero", at);
        }
        List<Object> items = new ArrayList<>();
        for (long v = start; step > 0 ? v < stop : v > stop; v += step) {
          if (items.size() >= MAX_LIST) {
            throw RuntimeFailure.of("MemoryError", "range() with more than " + MAX_LIST
                + " elements", at);
          }
          items.add(v);
        }
        steps += items.size();
        return List.copyOf(items);
      }
      default:
        throw RuntimeFailure.of("NameError", "name '" + name + "' is not defined", at);
    }
  }

  private static void arity(String name, List<Object> args, int n, Ast.Node at) throws RuntimeFailure {
    if (args.size() != n) {
      throw RuntimeFailure.of("TypeError", name + "() takes exactly " + n + " argument"
          + (n == 1 ? "" : "s") + " (" + args.size() + " given)", at);
    }
  }

  private Object arith(String op, Object a, Object b, Ast.Node at) throws RuntimeFailure {
    if (op.equals("+") && a instanceof List<?> x && b instanceof List<?> y) {
      if (x.size() + y.size() > MAX_LIST) {
        throw RuntimeFailure.of("MemoryError", "list longer than " + MAX_LIST + " elements", at);
      }
      List<Object> r = new ArrayList<>(x);
      r.addAll(y);
      steps += r.size();
      return List.copyOf(r);
    }
    if (!(a instanceof Long) || !(b instanceof Long)) {
      throw RuntimeFailure.of("TypeError", "unsupported operand types for " + op + ": '"
          + typeName(a) + "' and '" + typeName(b) + "'", at);
    }
    long x = (Long) a;
    long y = (Long) b;
    switch (op) {
      case "+":
        return add(x, y, at);
      case "-":
        try {
          return Math.subtractExact(x, y);
        } catch (ArithmeticException e) {
          throw overflow(at);
        }
      case "*":
        try {
          return Math.multiplyExact(x, y);
        } catch (ArithmeticException e) {
          throw overflow(at);
        }
      case "//":
        if (y == 0) {
          throw RuntimeFailure.of("ZeroDivisionError", "integer division by zero", at);
        }
        if (x == Long.MIN_VALUE && y == -1) {
          throw overflow(at);
        }
        return Math.floorDiv(x, y);
      case "%":
        if (y == 0) {
          throw RuntimeFailure.of("ZeroDivisionError", "integer modulo by zero", at);
        }
        return Math.floorMod(x, y);
      case "**": {
        if (y < 0) {
          throw RuntimeFailure.of("ValueError", "negative exponent " + y + " (only integers are supported)", at);
        }
        long r = 1;
        for (long k = 0; k < y; k++) {
          tick(at);
          try {
            r = Math.multiplyExact(r, x);
          } catch (ArithmeticException e) {
            throw overflow(at);
          }
          if (r == 0 || r == 1 && x == 1) {
            break;
          }
        }
        return r;
      }
      default:
        throw new IllegalStateException(op);
    }
  }

  private static long add(long x, long y, Ast.Node at) throws RuntimeFailure {
    try {
      return Math.addExact(x, y);
    } catch (ArithmeticException e) {
      throw overflow(at);
    }
  }

  private static RuntimeFailure overflow(Ast.Node at) {
    return RuntimeFailure.of("OverflowError", "integer result does not fit in 64 bits", at);
  }

  private static boolean compare(String op, Object a, Object b, Ast.Node at) throws RuntimeFailure {
    if (op.equals("==")) {
      return a.equals(b);
    }
    if (op.equals("!=")) {
      return !a.equals(b);
    }
    if (!(a instanceof Long) || !(b instanceof Long)) {
      throw RuntimeFailure.of("TypeError", "'" + op + "' not supported between '" + typeName(a)
          + "' and '" + typeName(b) + "'", at);
    }
    long x = (Long) a;
    long y = (Long) b;
    switch (op) {
      case "<":
        return x < y;
      case "<=":
        return x <= y;
      case ">":
        return x > y;
      default:
        return x >= y;
    }
  }

  private static boolean truth(Object v, Ast.Node at) {
    if (v instanceof Boolean b) {
      return b;
    }
    if (v instanceof Long l) {
      return l != 0;
    }
    return !((List<?>) v).isEmpty();
  }

  private static long integer(Object v, String what, Ast.Node at) throws RuntimeFailure {
    if (v instanceof Long l) {
      return l;
    }
    throw RuntimeFailure.of("TypeError", what + " needs an int, got '" + typeName(v) + "'", at);
  }

  static String typeName(Object v) {
    return v instanceof Long ? "int" : v instanceof Boolean ? "bool" : "list";
  }

  /** Python's repr of a value: 7, True, [1, 2]. */
  static String repr(Object v) {
    if (v instanceof Boolean b) {
      return b ? "True" : "False";
    }
    if (v instanceof List<?> l) {
      StringBuilder sb = new StringBuilder("[");
      for (int i = 0; i < l.size(); i++) {
        sb.append(i == 0 ? "" : ", ").append(repr(l.get(i)));
        if (sb.length() > 200) {
          return sb.append(", ...]").toString();
        }
      }
      return sb.append(']').toString();
    }
    return String.valueOf(v);
  }
}
