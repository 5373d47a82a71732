package org.sdpo.transformer.chat;

import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.sdpo.transformer.chat.Py.Fn;
import org.sdpo.transformer.chat.Py.Namespace;
import org.sdpo.transformer.chat.Py.Undefined;

/**
 * The filters, tests, global functions and Python methods chat templates use, with Jinja's and
 * Python's meaning. Global functions: range, namespace, dict, raise_exception, strftime_now.
 * Methods: those of str (strip, lstrip, rstrip, split, rsplit, startswith, endswith, upper,
 * lower, title, capitalize, replace, find, rfind, count, join, splitlines, is*) and dict (get,
 * items, keys, values).
 */
final class Builtins {
  /** What {@code raise_exception(message)} throws: the template's own message. */
  static final class Raised extends RuntimeException {
    Raised(String message) {
      super(message, null, false, false);
    }
  }

  private final Interpreter in;

  Builtins(Interpreter in) {
    this.in = in;
  }

  private static final Set<String> GLOBALS = Set.of("range", "namespace", "dict",
      "raise_exception", "strftime_now");

  boolean hasGlobal(String name) {
    return GLOBALS.contains(name);
  }

  Fn global(String name) {
    return switch (name) {
      case "range" -> (args, kw) -> {
        long start = 0;
        long stop;
        long step = 1;
        if (args.size() == 1) {
          stop = Py.integer(args.get(0));
        } else {
          start = Py.integer(args.get(0));
          stop = Py.integer(args.get(1));
          step = args.size() > 2 ? Py.integer(args.get(2)) : 1;
        }
        if (step == 0) {
          throw new JinjaException("range() arg 3 must not be zero");
        }
        List<Object> out = new ArrayList<>();
        for (long i = start; step > 0 ? i < stop : i > stop; i += step) {
          if (out.size() > 1_000_000) {
            throw new JinjaException("range() longer than 1,000,000 items");
          }
          out.add(i);
        }
        return out;
      };
      case "namespace" -> (args, kw) -> {
        Namespace ns = new Namespace();
        for (Object a : args) {
          if (a instanceof Map<?, ?> m) {
            m.forEach((k, v) -> ns.attrs.put(String.valueOf(k), v));
          }
        }
        ns.attrs.putAll(kw);
        return ns;
      };
      case "dict" -> (args, kw) -> {
        Map<String, Object> m = new LinkedHashMap<>();
        if (!args.isEmpty() && args.get(0) instanceof Map<?, ?> src) {
          src.forEach((k, v) -> m.put(String.valueOf(k), v));
        }
        m.putAll(kw);
        return m;
      };
      case "raise_exception" -> (args, kw) -> {
        throw new Raised(args.isEmpty() ? "" : Py.str(args.get(0)));
      };
      default -> (args, kw) -> LocalDateTime.now().format(DateTimeFormatter.ofPattern(
          pythonDateFormat(args.isEmpty() ? "%Y-%m-%d" : Py.str(args.get(0)))));
    };
  }

  /** Python's strftime directives that templates use, as a DateTimeFormatter pattern. */
  private static String pythonDateFormat(String f) {
    StringBuilder b = new StringBuilder();
    for (int i = 0; i < f.length(); i++) {
      char c = f.charAt(i);
      if (c != '%' || i + 1 >= f.length()) {
        b.append(Character.isLetter(c) ? "'" + c + "'" : c == '\'' ? "''" : String.valueOf(c));
        continue;
      }
      char d = f.charAt(++i);
      b.append(switch (d) {
        case 'Y' -> "yyyy";
        case 'm' -> "MM";
        case 'd' -> "dd";
        case 'B' -> "MMMM";
        case 'b' -> "MMM";
        case 'H' -> "HH";
        case 'M' -> "mm";
        case 'S' -> "ss";
        case 'A' -> "EEEE";
        case 'a' -> "EEE";
        case '%' -> "%";
        default -> "'%" + d + "'";
      });
    }
    return b.toString();
  }

  // ------------------------------------------------------------ methods

  /** A bound method of a string or dict, or null when {@code obj} has no such method. */
  Fn method(Object obj, String name, int line) {
    if (obj instanceof String s) {
      return stringMethod(s, name);
    }
    if (obj instanceof Map<?, ?> m) {
      switch (name) {
        case "get":
          return (args, kw) -> {
            String k = Py.str(args.get(0));
            return m.containsKey(k) ? m.get(k) : args.size() > 1 ? args.get(1) : null;
          };
        case "items":
          return (args, kw) -> {
            List<Object> out = new ArrayList<>();
            m.forEach((k, v) -> out.add(pair(k, v)));
            return out;
          };
        case "keys":
          return (args, kw) -> new ArrayList<Object>(m.keySet());
        case "values":
          return (args, kw) -> new ArrayList<Object>(m.values());
        default:
          return null;
      }
    }
    return null;
  }

  private static List<Object> pair(Object a, Object b) {
    return new Py.Tuple(java.util.Arrays.asList(a, b));
  }

  private static String arg(List<Object> args, int i) {
    return i < args.size() && args.get(i) != null ? Py.str(args.get(i)) : null;
  }

  private Fn stringMethod(String s, String name) {
    switch (name) {
      case "strip":
        return (a, kw) -> Py.strip(s, arg(a, 0), true, true);
      case "lstrip":
        return (a, kw) -> Py.strip(s, arg(a, 0), true, false);
      case "rstrip":
        return (a, kw) -> Py.strip(s, arg(a, 0), false, true);
      case "split":
        return (a, kw) -> Py.split(s, arg(a, 0) != null ? arg(a, 0) : (String) kw.get("sep"),
            a.size() > 1 ? Py.integer(a.get(1)) : kw.containsKey("maxsplit")
                ? Py.integer(kw.get("maxsplit")) : -1);
      case "rsplit":
        return (a, kw) -> {
          String sep = arg(a, 0);
          long max = a.size() > 1 ? Py.integer(a.get(1)) : -1;
          if (sep == null || max < 0) {
            return Py.split(s, sep, max);
          }
          List<Object> out = new ArrayList<>();
          String rest = s;
          while (out.size() < max) {
            int k = rest.lastIndexOf(sep);
            if (k < 0) {
              break;
            }
            out.add(0, rest.substring(k + sep.length()));
            rest = rest.substring(0, k);
          }
          out.add(0, rest);
          return out;
        };
      case "startswith":
      case "endswith":
        return (a, kw) -> {
          List<Object> options = a.get(0) instanceof List<?> l ? new ArrayList<>(l)
              : List.of(a.get(0));
          for (Object o : options) {
            String p = Py.str(o);
            if (name.equals("startswith") ? s.startsWith(p) : s.endsWith(p)) {
              return true;
            }
          }
          return false;
        };
      case "upper":
        return (a, kw) -> s.toUpperCase(java.util.Locale.ROOT);
      case "lower":
        return (a, kw) -> s.toLowerCase(java.util.Locale.ROOT);
      case "title":
        return (a, kw) -> Py.title(s);
      case "capitalize":
        return (a, kw) -> s.isEmpty() ? s : s.substring(0, 1).toUpperCase(java.util.Locale.ROOT)
            + s.substring(1).toLowerCase(java.util.Locale.ROOT);
      case "replace":
        return (a, kw) -> replace(s, Py.str(a.get(0)), Py.str(a.get(1)),
            a.size() > 2 ? Py.integer(a.get(2)) : -1);
      case "find":
        return (a, kw) -> (long) s.indexOf(Py.str(a.get(0)));
      case "rfind":
        return (a, kw) -> (long) s.lastIndexOf(Py.str(a.get(0)));
      case "count":
        return (a, kw) -> {
          String sub = Py.str(a.get(0));
          if (sub.isEmpty()) {
            return (long) s.length() + 1;
          }
          long n = 0;
          for (int k = s.indexOf(sub); k >= 0; k = s.indexOf(sub, k + sub.length())) {
            n++;
          }
          return n;
        };
      case "join":
        return (a, kw) -> {
          StringBuilder b = new StringBuilder();
          List<Object> items = Py.iterate(a.get(0), 0);
          for (int i = 0; i < items.size(); i++) {
            b.append(i > 0 ? s : "").append(Py.str(items.get(i)));
          }
          return b.toString();
        };
      case "splitlines":
        return (a, kw) -> {
          List<Object> out = new ArrayList<>(List.of(s.split("\r\n|\r|\n", -1)));
          if (!out.isEmpty() && out.get(out.size() - 1).equals("")) {
            out.remove(out.size() - 1);
          }
          return out;
        };
      case "isdigit":
        return (a, kw) -> !s.isEmpty() && s.chars().allMatch(Character::isDigit);
      case "isalpha":
        return (a, kw) -> !s.isEmpty() && s.chars().allMatch(Character::isLetter);
      case "isalnum":
        return (a, kw) -> !s.isEmpty() && s.chars().allMatch(Character::isLetterOrDigit);
      case "isspace":
        return (a, kw) -> !s.isEmpty() && s.chars().allMatch(Character::isWhitespace);
      case "islower":
        return (a, kw) -> s.chars().anyMatch(Character::isLetter)
            && s.equals(s.toLowerCase(java.util.Locale.ROOT));
      case "isupper":
        return (a, kw) -> s.chars().anyMatch(Character::isLetter)
            && s.equals(s.toUpperCase(java.util.Locale.ROOT));
      default:
        return null;
    }
  }

  private static String replace(String s, String old, String neu, long count) {
    if (count < 0) {
      return s.replace(old, neu);
    }
    StringBuilder b = new StringBuilder();
    int at = 0;
    for (long n = 0; n < count; n++) {
      int k = s.indexOf(old, at);
      if (k < 0 || old.isEmpty()) {
        break;
      }
      b.append(s, at, k).append(neu);
      at = k + old.length();
    }
    return b.append(s.substring(at)).toString();
  }

  // ------------------------------------------------------------ filters

  Object filter(String name, Object v, List<Object> a, Map<String, Object> kw, int line) {
    switch (name) {
      case "length":
      case "count":
        return Py.len(v, line);
      case "string":
        return Py.str(v);
      case "trim":
        return Py.strip(Py.str(v), arg(a, 0), true, true);
      case "upper":
        return Py.str(v).toUpperCase(java.util.Locale.ROOT);
      case "lower":
        return Py.str(v).toLowerCase(java.util.Locale.ROOT);
      case "title":
        return Py.title(Py.str(v));
      case "capitalize":
        return stringMethod(Py.str(v), "capitalize").call(a, kw);
      case "replace":
        return replace(Py.str(v), Py.str(a.get(0)), Py.str(a.get(1)),
            a.size() > 2 ? Py.integer(a.get(2)) : -1);
      case "safe":
        return v;
      case "e":
      case "escape":
        return Py.str(v).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("\"", "&#34;").replace("'", "&#39;");
      case "default":
      case "d": {
        boolean bool = a.size() > 1 ? Py.truthy(a.get(1)) : Py.truthy(kw.get("boolean"));
        Object dflt = !a.isEmpty() ? a.get(0) : kw.getOrDefault("default_value", "");
        return v instanceof Undefined || (bool && !Py.truthy(v)) ? dflt : v;
      }
      case "tojson": {
        Object ind = !a.isEmpty() ? a.get(0) : kw.get("indent");
        return Py.json(v, ind == null ? null : (int) Py.integer(ind),
            Py.truthy(kw.get("sort_keys")), line);
      }
      case "join": {
        String sep = arg(a, 0) != null ? arg(a, 0) : kw.containsKey("d") ? Py.str(kw.get("d")) : "";
        Object attr = a.size() > 1 ? a.get(1) : kw.get("attribute");
        StringBuilder b = new StringBuilder();
        List<Object> items = Py.iterate(v, line);
        for (int i = 0; i < items.size(); i++) {
          Object x = attr == null ? items.get(i) : in.item(items.get(i), attr, line);
          b.append(i > 0 ? sep : "").append(Py.str(x));
        }
        return b.toString();
      }
      case "first": {
        List<Object> items = Py.iterate(v, line);
        return items.isEmpty() ? new Undefined("first") : items.get(0);
      }
      case "last": {
        List<Object> items = Py.iterate(v, line);
        return items.isEmpty() ? new Undefined("last") : items.get(items.size() - 1);
      }
      case "reverse": {
        List<Object> items = Py.iterate(v, line);
        java.util.Collections.reverse(items);
        if (v instanceof String) {
          StringBuilder b = new StringBuilder();
          items.forEach(b::append);
          return b.toString();
        }
        return items;
      }
      case "list":
        return Py.iterate(v, line);
      case "items": {
        if (!(v instanceof Map<?, ?> m)) {
          throw JinjaException.at(line, "items: expected a dict, got " + Py.typeName(v));
        }
        List<Object> out = new ArrayList<>();
        m.forEach((k, x) -> out.add(pair(k, x)));
        return out;
      }
      case "dictsort": {
        if (!(v instanceof Map<?, ?> m)) {
          throw JinjaException.at(line, "dictsort: expected a dict, got " + Py.typeName(v));
        }
        List<Object> out = new ArrayList<>();
        m.forEach((k, x) -> out.add(pair(k, x)));
        out.sort((x, y) -> Py.compare(((List<?>) x).get(0), ((List<?>) y).get(0), line));
        return out;
      }
      case "int":
        return toInt(v);
      case "float":
        return v instanceof String s ? parseDouble(s) : Py.isNumber(v) ? Py.num(v) : 0.0;
      case "abs":
        return Py.isInt(v) ? (Object) Math.abs(Py.integer(v)) : Math.abs(Py.num(v));
      case "round": {
        int digits = a.isEmpty() ? 0 : (int) Py.integer(a.get(0));
        double f = Math.pow(10, digits);
        return Math.round(Py.num(v) * f) / f;
      }
      case "sum": {
        Object total = 0L;
        for (Object x : Py.iterate(v, line)) {
          total = Interpreter.arithmetic("+", total, x, line);
        }
        return total;
      }
      case "min":
      case "max": {
        List<Object> items = Py.iterate(v, line);
        if (items.isEmpty()) {
          return new Undefined(name);
        }
        Comparator<Object> c = (x, y) -> Py.compare(x, y, line);
        return name.equals("min") ? items.stream().min(c).get() : items.stream().max(c).get();
      }
      case "sort": {
        List<Object> items = Py.iterate(v, line);
        Object attr = kw.get("attribute");
        boolean reverse = Py.truthy(!a.isEmpty() ? a.get(0) : kw.get("reverse"));
        Comparator<Object> c = (x, y) -> Py.compare(attr == null ? x : in.item(x, attr, line),
            attr == null ? y : in.item(y, attr, line), line);
        items.sort(reverse ? c.reversed() : c);
        return items;
      }
      case "unique": {
        List<Object> out = new ArrayList<>();
        for (Object x : Py.iterate(v, line)) {
          if (out.stream().noneMatch(y -> Py.eq(x, y))) {
            out.add(x);
          }
        }
        return out;
      }
      case "map": {
        List<Object> out = new ArrayList<>();
        for (Object x : Py.iterate(v, line)) {
          if (kw.containsKey("attribute")) {
            Object y = in.item(x, kw.get("attribute"), line);
            out.add(y instanceof Undefined && kw.containsKey("default") ? kw.get("default") : y);
          } else {
            out.add(filter(Py.str(a.get(0)), x, a.subList(1, a.size()), Map.of(), line));
          }
        }
        return out;
      }
      case "select":
      case "reject":
      case "selectattr":
      case "rejectattr": {
        boolean byAttr = name.endsWith("attr");
        boolean keep = name.startsWith("select");
        int t0 = byAttr ? 1 : 0;
        List<Object> out = new ArrayList<>();
        for (Object x : Py.iterate(v, line)) {
          Object subject = byAttr ? in.item(x, a.get(0), line) : x;
          boolean ok = a.size() > t0 ? test(Py.str(a.get(t0)), subject, a.subList(t0 + 1,
              a.size()), line) : Py.truthy(subject);
          if (ok == keep) {
            out.add(x);
          }
        }
        return out;
      }
      case "indent": {
        int width = a.isEmpty() ? (kw.containsKey("width") ? (int) Py.integer(kw.get("width")) : 4)
            : (int) Py.integer(a.get(0));
        boolean first = Py.truthy(a.size() > 1 ? a.get(1) : kw.get("first"));
        boolean blank = Py.truthy(a.size() > 2 ? a.get(2) : kw.get("blank"));
        String pad = " ".repeat(width);
        String[] lines = Py.str(v).split("\n", -1);
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < lines.length; i++) {
          boolean indent = (i > 0 || first) && (blank || !lines[i].isBlank());
          b.append(i > 0 ? "\n" : "").append(indent ? pad : "").append(lines[i]);
        }
        return b.toString();
      }
      case "wordcount":
        return (long) Py.split(Py.str(v), null, -1).size();
      default:
        throw JinjaException.at(line, "unknown filter '" + name + "'");
    }
  }

  private static Object toInt(Object v) {
    if (Py.isInt(v)) {
      return Py.integer(v);
    }
    if (v instanceof Double d) {
      return (long) (double) d;
    }
    if (v instanceof String s) {
      try {
        return Long.parseLong(s.strip());
      } catch (NumberFormatException e) {
        return (long) parseDouble(s);
      }
    }
    return 0L;
  }

  private static double parseDouble(String s) {
    try {
      return Double.parseDouble(s.strip());
    } catch (NumberFormatException e) {
      return 0.0;
    }
  }

  // ------------------------------------------------------------ tests

  boolean test(String name, Object v, List<Object> a, int line) {
    switch (name) {
      case "defined":
        return !(v instanceof Undefined);
      case "undefined":
        return v instanceof Undefined;
      case "none":
        return v == null;
      case "string":
        return v instanceof String;
      case "number":
        return v instanceof Long || v instanceof Double;
      case "integer":
        return v instanceof Long;
      case "float":
        return v instanceof Double;
      case "boolean":
        return v instanceof Boolean;
      case "true":
        return Boolean.TRUE.equals(v);
      case "false":
        return Boolean.FALSE.equals(v);
      case "mapping":
        return v instanceof Map || v instanceof Namespace;
      case "sequence":
        return v instanceof List || v instanceof String || v instanceof Map;
      case "iterable":
        return v instanceof List || v instanceof String || v instanceof Map;
      case "callable":
        return v instanceof Fn;
      case "odd":
        return Py.integer(v) % 2 != 0;
      case "even":
        return Py.integer(v) % 2 == 0;
      case "divisibleby":
        return Py.integer(v) % Py.integer(a.get(0)) == 0;
      case "lower":
        return v instanceof String s && s.equals(s.toLowerCase(java.util.Locale.ROOT));
      case "upper":
        return v instanceof String s && s.equals(s.toUpperCase(java.util.Locale.ROOT));
      case "sameas":
        return v == a.get(0) || (v == null && a.get(0) == null)
            || (v instanceof Boolean && v.equals(a.get(0)));
      case "in":
        return Interpreter.contains(a.get(0), v, line);
      case "eq", "equalto", "==":
        return Py.eq(v, a.get(0));
      case "ne", "!=":
        return !Py.eq(v, a.get(0));
      case "lt", "lessthan", "<":
        return Py.compare(v, a.get(0), line) < 0;
      case "le", "<=":
        return Py.compare(v, a.get(0), line) <= 0;
      case "gt", "greaterthan", ">":
        return Py.compare(v, a.get(0), line) > 0;
      case "ge", ">=":
        return Py.compare(v, a.get(0), line) >= 0;
      default:
        throw JinjaException.at(line, "unknown test '" + name + "'");
    }
  }
}
