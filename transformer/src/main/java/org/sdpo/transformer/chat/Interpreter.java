package org.sdpo.transformer.chat;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.sdpo.transformer.chat.Ast.Expr;
import org.sdpo.transformer.chat.Ast.Node;
import org.sdpo.transformer.chat.Py.Fn;
import org.sdpo.transformer.chat.Py.Namespace;
import org.sdpo.transformer.chat.Py.Undefined;

/**
 * Renders a syntax tree. Scopes follow Jinja: a for loop's body and a macro's body assign into
 * their own scope (so a {@code set} inside a loop does not leak out; a namespace's attributes
 * do), if blocks share their enclosing scope.
 */
final class Interpreter {
  /** A chain of variable maps, innermost first. */
  static final class Scope {
    final Map<String, Object> vars = new HashMap<>();
    final Scope parent;

    Scope(Scope parent) {
      this.parent = parent;
    }

    Object get(String name) {
      for (Scope s = this; s != null; s = s.parent) {
        if (s.vars.containsKey(name)) {
          return s.vars.get(name);
        }
      }
      return new Undefined(name);
    }
  }

  /** break and continue, unwinding to their loop. */
  private static final class LoopControl extends RuntimeException {
    final boolean isBreak;

    LoopControl(boolean isBreak) {
      super(null, null, false, false);
      this.isBreak = isBreak;
    }
  }

  private final Builtins builtins = new Builtins(this);

  void render(List<Node> nodes, Scope scope, StringBuilder out) {
    for (Node n : nodes) {
      render(n, scope, out);
    }
  }

  private void render(Node node, Scope scope, StringBuilder out) {
    if (node instanceof Ast.Text t) {
      out.append(t.text());
    } else if (node instanceof Ast.Output o) {
      out.append(Py.str(eval(o.value(), scope)));
    } else if (node instanceof Ast.If i) {
      for (int k = 0; k < i.conditions().size(); k++) {
        if (Py.truthy(eval(i.conditions().get(k), scope))) {
          render(i.bodies().get(k), scope, out);
          return;
        }
      }
      render(i.orElse(), scope, out);
    } else if (node instanceof Ast.For f) {
      loop(f, scope, out);
    } else if (node instanceof Ast.Set s) {
      assign(s, scope);
    } else if (node instanceof Ast.SetBlock s) {
      StringBuilder b = new StringBuilder();
      render(s.body(), scope, b);
      scope.vars.put(s.name(), b.toString());
    } else if (node instanceof Ast.Macro m) {
      scope.vars.put(m.name(), macro(m, scope));
    } else {
      throw new LoopControl(node instanceof Ast.Break);
    }
  }

  private void assign(Ast.Set s, Scope scope) {
    Object v = eval(s.value(), scope);
    if (s.attr() != null) {
      Object target = scope.get(s.names().get(0));
      if (!(target instanceof Namespace ns)) {
        throw JinjaException.at(s.line(), "cannot assign attribute on non-namespace object '"
            + s.names().get(0) + "'");
      }
      ns.attrs.put(s.attr(), v);
      return;
    }
    if (s.names().size() == 1) {
      scope.vars.put(s.names().get(0), v);
      return;
    }
    List<Object> items = Py.iterate(v, s.line());
    if (items.size() != s.names().size()) {
      throw JinjaException.at(s.line(), "cannot unpack " + items.size() + " values into "
          + s.names().size() + " names");
    }
    for (int i = 0; i < items.size(); i++) {
      scope.vars.put(s.names().get(i), items.get(i));
    }
  }

  private void loop(Ast.For f, Scope scope, StringBuilder out) {
    Object iterable = eval(f.iterable(), scope);
    if (iterable == null) {
      throw JinjaException.at(f.line(), "'NoneType' object is not iterable");
    }
    List<Object> all = Py.iterate(iterable, f.line());
    Scope body = new Scope(scope);
    List<Object> items = all;
    if (f.filter() != null) {
      items = new ArrayList<>();
      for (Object item : all) {
        bind(f, item, body);
        if (Py.truthy(eval(f.filter(), body))) {
          items.add(item);
        }
      }
    }
    if (items.isEmpty()) {
      render(f.orElse(), scope, out);
      return;
    }
    int n = items.size();
    for (int i = 0; i < n; i++) {
      bind(f, items.get(i), body);
      Map<String, Object> loop = new LinkedHashMap<>();
      loop.put("index", (long) i + 1);
      loop.put("index0", (long) i);
      loop.put("revindex", (long) (n - i));
      loop.put("revindex0", (long) (n - i - 1));
      loop.put("first", i == 0);
      loop.put("last", i == n - 1);
      loop.put("length", (long) n);
      loop.put("previtem", i > 0 ? items.get(i - 1) : new Undefined("previtem"));
      loop.put("nextitem", i < n - 1 ? items.get(i + 1) : new Undefined("nextitem"));
      final int index = i;
      loop.put("cycle", (Fn) (args, kw) -> args.isEmpty() ? new Undefined("cycle")
          : args.get(index % args.size()));
      body.vars.put("loop", loop);
      try {
        render(f.body(), body, out);
      } catch (LoopControl c) {
        if (c.isBreak) {
          return;
        }
      }
    }
  }

  private void bind(Ast.For f, Object item, Scope body) {
    if (f.targets().size() == 1) {
      body.vars.put(f.targets().get(0), item);
      return;
    }
    List<Object> parts = Py.iterate(item, f.line());
    if (parts.size() != f.targets().size()) {
      throw JinjaException.at(f.line(), "cannot unpack " + parts.size() + " values into "
          + f.targets().size() + " loop variables");
    }
    for (int k = 0; k < parts.size(); k++) {
      body.vars.put(f.targets().get(k), parts.get(k));
    }
  }

  private Fn macro(Ast.Macro m, Scope defining) {
    return (args, kwargs) -> {
      Scope s = new Scope(defining);
      if (args.size() > m.params().size()) {
        throw new JinjaException("macro '" + m.name() + "' takes " + m.params().size()
            + " arguments, got " + args.size());
      }
      for (int i = 0; i < m.params().size(); i++) {
        String p = m.params().get(i);
        Object v;
        if (i < args.size()) {
          v = args.get(i);
        } else if (kwargs.containsKey(p)) {
          v = kwargs.get(p);
        } else if (m.defaults().get(i) != null) {
          v = eval(m.defaults().get(i), s);
        } else {
          v = new Undefined(p);
        }
        s.vars.put(p, v);
      }
      StringBuilder b = new StringBuilder();
      render(m.body(), s, b);
      return b.toString();
    };
  }

  // ------------------------------------------------------------ expressions

  Object eval(Expr e, Scope scope) {
    if (e instanceof Ast.Lit l) {
      return l.value();
    }
    if (e instanceof Ast.Name n) {
      Object v = scope.get(n.name());
      return v instanceof Undefined && builtins.hasGlobal(n.name()) ? builtins.global(n.name()) : v;
    }
    if (e instanceof Ast.Attr a) {
      return attribute(eval(a.object(), scope), a.name(), a.line());
    }
    if (e instanceof Ast.Item i) {
      return item(eval(i.object(), scope), eval(i.key(), scope), i.line());
    }
    if (e instanceof Ast.Slice s) {
      return slice(eval(s.object(), scope), value(s.start(), scope), value(s.stop(), scope),
          value(s.step(), scope), s.line());
    }
    if (e instanceof Ast.Call c) {
      return call(eval(c.function(), scope), values(c.args(), scope), values(c.kwargs(), scope),
          c.line());
    }
    if (e instanceof Ast.Filter f) {
      return builtins.filter(f.name(), eval(f.value(), scope), values(f.args(), scope),
          values(f.kwargs(), scope), f.line());
    }
    if (e instanceof Ast.Test t) {
      boolean r = builtins.test(t.name(), eval(t.value(), scope), values(t.args(), scope),
          t.line());
      return t.negated() != r;
    }
    if (e instanceof Ast.Unary u) {
      return unary(u, eval(u.operand(), scope));
    }
    if (e instanceof Ast.Binary b) {
      return binary(b, scope);
    }
    if (e instanceof Ast.Compare c) {
      return compare(c, scope);
    }
    if (e instanceof Ast.Cond c) {
      return Py.truthy(eval(c.test(), scope)) ? eval(c.then(), scope)
          : c.otherwise() == null ? new Undefined("else") : eval(c.otherwise(), scope);
    }
    if (e instanceof Ast.ListLit l) {
      List<Object> items = values(l.items(), scope);
      return l.tuple() ? new Py.Tuple(items) : items;
    }
    Ast.DictLit d = (Ast.DictLit) e;
    Map<String, Object> m = new LinkedHashMap<>();
    for (int i = 0; i < d.keys().size(); i++) {
      m.put(Py.str(eval(d.keys().get(i), scope)), eval(d.values().get(i), scope));
    }
    return m;
  }

  private Object value(Expr e, Scope scope) {
    return e == null ? null : eval(e, scope);
  }

  private List<Object> values(List<Expr> es, Scope scope) {
    List<Object> out = new ArrayList<>();
    for (Expr e : es) {
      out.add(eval(e, scope));
    }
    return out;
  }

  private Map<String, Object> values(Map<String, Expr> es, Scope scope) {
    Map<String, Object> out = new LinkedHashMap<>();
    es.forEach((k, e) -> out.put(k, eval(e, scope)));
    return out;
  }

  /** obj.name: a method of a string or dict, a dict's key, a namespace's attribute. */
  Object attribute(Object obj, String name, int line) {
    if (obj instanceof Undefined u) {
      throw JinjaException.at(line, "'" + u.name() + "' is undefined");
    }
    Fn method = builtins.method(obj, name, line);
    if (method != null) {
      return method;
    }
    if (obj instanceof Map<?, ?> m) {
      return m.containsKey(name) ? m.get(name) : new Undefined(name);
    }
    if (obj instanceof Namespace ns) {
      return ns.attrs.containsKey(name) ? ns.attrs.get(name) : new Undefined(name);
    }
    return new Undefined(name);
  }

  /** obj[key]: a list or string index (negative from the end), a dict key. */
  Object item(Object obj, Object key, int line) {
    if (obj instanceof Undefined u) {
      throw JinjaException.at(line, "'" + u.name() + "' is undefined");
    }
    if ((obj instanceof List || obj instanceof String) && Py.isInt(key)) {
      long i = Py.integer(key);
      long n = Py.len(obj, line);
      if (i < 0) {
        i += n;
      }
      if (i < 0 || i >= n) {
        return new Undefined("[" + key + "]");
      }
      return obj instanceof List<?> l ? l.get((int) i) : codePointAt((String) obj, (int) i);
    }
    if (obj instanceof Map<?, ?> m) {
      String k = Py.str(key);
      return m.containsKey(k) ? m.get(k) : new Undefined(k);
    }
    if (key instanceof String s) {
      return attribute(obj, s, line);
    }
    return new Undefined("[" + Py.repr(key) + "]");
  }

  private static String codePointAt(String s, int i) {
    int at = s.offsetByCodePoints(0, i);
    return new String(Character.toChars(s.codePointAt(at)));
  }

  private Object slice(Object obj, Object start, Object stop, Object step, int line) {
    List<Object> items;
    if (obj instanceof String s) {
      items = Py.iterate(s, line);
    } else if (obj instanceof List<?> l) {
      items = new ArrayList<>(l);
    } else {
      throw JinjaException.at(line, "'" + Py.typeName(obj) + "' object is not subscriptable");
    }
    int n = items.size();
    long st = step == null ? 1 : Py.integer(step);
    if (st == 0) {
      throw JinjaException.at(line, "slice step cannot be zero");
    }
    long lo = st > 0 ? 0 : n - 1;
    long hi = st > 0 ? n : -1;
    if (start != null) {
      lo = bound(Py.integer(start), n, st);
    }
    if (stop != null) {
      hi = bound(Py.integer(stop), n, st);
    }
    List<Object> out = new ArrayList<>();
    for (long i = lo; st > 0 ? i < hi : i > hi; i += st) {
      out.add(items.get((int) i));
    }
    if (obj instanceof String) {
      StringBuilder b = new StringBuilder();
      out.forEach(b::append);
      return b.toString();
    }
    return out;
  }

  /** A slice bound clamped as Python clamps it. */
  private static long bound(long i, int n, long step) {
    if (i < 0) {
      i += n;
      if (i < 0) {
        return step > 0 ? 0 : -1;
      }
    } else if (i >= n) {
      return step > 0 ? n : n - 1;
    }
    return i;
  }

  Object call(Object fn, List<Object> args, Map<String, Object> kwargs, int line) {
    if (fn instanceof Fn f) {
      try {
        return f.call(args, kwargs);
      } catch (JinjaException e) {
        throw e.getMessage().startsWith("line ") ? e : JinjaException.at(line, e.getMessage());
      }
    }
    if (fn instanceof Undefined u) {
      throw JinjaException.at(line, "'" + u.name() + "' is undefined");
    }
    throw JinjaException.at(line, "'" + Py.typeName(fn) + "' object is not callable");
  }

  private Object unary(Ast.Unary u, Object v) {
    switch (u.op()) {
      case "not":
        return !Py.truthy(v);
      case "-":
        if (Py.isInt(v)) {
          return -Py.integer(v);
        }
        if (v instanceof Double d) {
          return -d;
        }
        break;
      default: // +
        if (Py.isNumber(v)) {
          return v;
        }
        break;
    }
    throw JinjaException.at(u.line(), "bad operand type for unary " + u.op() + ": '"
        + Py.typeName(v) + "'");
  }

  private Object binary(Ast.Binary b, Scope scope) {
    if (b.op().equals("and")) {
      Object l = eval(b.left(), scope);
      return Py.truthy(l) ? eval(b.right(), scope) : l;
    }
    if (b.op().equals("or")) {
      Object l = eval(b.left(), scope);
      return Py.truthy(l) ? l : eval(b.right(), scope);
    }
    Object l = eval(b.left(), scope);
    Object r = eval(b.right(), scope);
    if (b.op().equals("~")) {
      return Py.str(l) + Py.str(r);
    }
    return arithmetic(b.op(), l, r, b.line());
  }

  static Object arithmetic(String op, Object l, Object r, int line) {
    if (op.equals("+")) {
      if (l instanceof String x && r instanceof String y) {
        return x + y;
      }
      if (l instanceof List<?> x && r instanceof List<?> y) {
        List<Object> out = new ArrayList<>(x);
        out.addAll(y);
        return out;
      }
    }
    if (op.equals("*")) {
      if (l instanceof String s && Py.isInt(r)) {
        return s.repeat((int) Math.max(0, Py.integer(r)));
      }
      if (l instanceof List<?> x && Py.isInt(r)) {
        List<Object> out = new ArrayList<>();
        for (long i = 0; i < Py.integer(r); i++) {
          out.addAll(x);
        }
        return out;
      }
    }
    if (!Py.isNumber(l) || !Py.isNumber(r)) {
      throw JinjaException.at(line, "unsupported operand types for " + op + ": '"
          + Py.typeName(l) + "' and '" + Py.typeName(r) + "'");
    }
    boolean ints = Py.isInt(l) && Py.isInt(r);
    double x = Py.num(l);
    double y = Py.num(r);
    switch (op) {
      case "+":
        return ints ? (Object) (Py.integer(l) + Py.integer(r)) : x + y;
      case "-":
        return ints ? (Object) (Py.integer(l) - Py.integer(r)) : x - y;
      case "*":
        return ints ? (Object) (Py.integer(l) * Py.integer(r)) : x * y;
      case "/":
        if (y == 0) {
          throw JinjaException.at(line, "division by zero");
        }
        return x / y;
      case "//":
        if (y == 0) {
          throw JinjaException.at(line, "integer division or modulo by zero");
        }
        return ints ? (Object) Math.floorDiv(Py.integer(l), Py.integer(r)) : Math.floor(x / y);
      case "%":
        if (y == 0) {
          throw JinjaException.at(line, "integer division or modulo by zero");
        }
        return ints ? (Object) Math.floorMod(Py.integer(l), Py.integer(r))
            : x - Math.floor(x / y) * y;
      default: // **
        if (ints && Py.integer(r) >= 0) {
          long p = 1;
          for (long i = 0; i < Py.integer(r); i++) {
            p *= Py.integer(l);
          }
          return p;
        }
        return Math.pow(x, y);
    }
  }

  private Object compare(Ast.Compare c, Scope scope) {
    Object left = eval(c.first(), scope);
    for (int i = 0; i < c.ops().size(); i++) {
      Object right = eval(c.rest().get(i), scope);
      if (!compare(c.ops().get(i), left, right, c.line())) {
        return false;
      }
      left = right;
    }
    return true;
  }

  static boolean compare(String op, Object l, Object r, int line) {
    return switch (op) {
      case "==" -> Py.eq(l, r);
      case "!=" -> !Py.eq(l, r);
      case "<" -> Py.compare(l, r, line) < 0;
      case "<=" -> Py.compare(l, r, line) <= 0;
      case ">" -> Py.compare(l, r, line) > 0;
      case ">=" -> Py.compare(l, r, line) >= 0;
      case "in" -> contains(r, l, line);
      default -> !contains(r, l, line); // not in
    };
  }

  static boolean contains(Object container, Object x, int line) {
    if (container instanceof String s) {
      if (!(x instanceof String sub)) {
        throw JinjaException.at(line, "'in <string>' requires string as left operand, not "
            + Py.typeName(x));
      }
      return s.contains(sub);
    }
    if (container instanceof Map<?, ?> m) {
      return m.containsKey(Py.str(x));
    }
    if (container instanceof Undefined) {
      return false;
    }
    for (Object o : Py.iterate(container, line)) {
      if (Py.eq(o, x)) {
        return true;
      }
    }
    return false;
  }
}
