package org.sdpo.transformer.chat;

import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Python's value semantics, as Jinja templates see them. Values are null (None),
 * {@link Undefined}, Boolean, Long (int), Double (float), String, List (list and tuple), Map
 * (dict, insertion-ordered), {@link Namespace} and callables. Truth, str(), repr(), equality,
 * ordering, len() and json.dumps(ensure_ascii=False) follow Python.
 */
final class Py {
  private Py() {}

  /** A name or attribute that does not exist: empty when printed, false, iterable as nothing. */
  record Undefined(String name) {}

  /** The mutable object {@code namespace(...)} makes, whose attributes {@code set} may change. */
  static final class Namespace {
    final Map<String, Object> attrs = new LinkedHashMap<>();
  }

  /** A tuple: a list that prints as (a, b), as dict items and tuple literals do. */
  static final class Tuple extends ArrayList<Object> {
    Tuple(List<?> items) {
      super(items);
    }
  }

  /** Something a template can call: builtins, bound methods, macros. */
  interface Fn {
    Object call(List<Object> args, Map<String, Object> kwargs);
  }

  /** A Java value from the caller made into a template value (Integer to Long, arrays to lists). */
  static Object of(Object v) {
    if (v == null || v instanceof String || v instanceof Boolean || v instanceof Long
        || v instanceof Double || v instanceof Fn || v instanceof Namespace
        || v instanceof Undefined) {
      return v;
    }
    if (v instanceof Integer || v instanceof Short || v instanceof Byte) {
      return ((Number) v).longValue();
    }
    if (v instanceof Float || v instanceof Number) {
      return ((Number) v).doubleValue();
    }
    if (v instanceof Character) {
      return v.toString();
    }
    if (v instanceof Map<?, ?> m) {
      Map<String, Object> out = new LinkedHashMap<>();
      m.forEach((k, x) -> out.put(String.valueOf(k), of(x)));
      return out;
    }
    if (v instanceof Iterable<?> it) {
      List<Object> out = new ArrayList<>();
      it.forEach(x -> out.add(of(x)));
      return out;
    }
    if (v instanceof Object[] a) {
      List<Object> out = new ArrayList<>();
      for (Object x : a) {
        out.add(of(x));
      }
      return out;
    }
    return v.toString();
  }

  static boolean truthy(Object v) {
    if (v == null || v instanceof Undefined) {
      return false;
    }
    if (v instanceof Boolean b) {
      return b;
    }
    if (v instanceof Long l) {
      return l != 0;
    }
    if (v instanceof Double d) {
      return d != 0;
    }
    if (v instanceof String s) {
      return !s.isEmpty();
    }
    if (v instanceof List<?> l) {
      return !l.isEmpty();
    }
    if (v instanceof Map<?, ?> m) {
      return !m.isEmpty();
    }
    return true;
  }

  static String typeName(Object v) {
    if (v == null) {
      return "NoneType";
    }
    if (v instanceof Undefined) {
      return "Undefined";
    }
    if (v instanceof Boolean) {
      return "bool";
    }
    if (v instanceof Long) {
      return "int";
    }
    if (v instanceof Double) {
      return "float";
    }
    if (v instanceof String) {
      return "str";
    }
    if (v instanceof List) {
      return "list";
    }
    if (v instanceof Map) {
      return "dict";
    }
    if (v instanceof Namespace) {
      return "Namespace";
    }
    return "function";
  }

  /** str(v); an undefined value prints as nothing. */
  static String str(Object v) {
    if (v instanceof String s) {
      return s;
    }
    if (v instanceof Undefined) {
      return "";
    }
    return repr(v);
  }

  static String repr(Object v) {
    if (v == null) {
      return "None";
    }
    if (v instanceof Boolean b) {
      return b ? "True" : "False";
    }
    if (v instanceof Long l) {
      return l.toString();
    }
    if (v instanceof Double d) {
      return floatRepr(d);
    }
    if (v instanceof String s) {
      return stringRepr(s);
    }
    if (v instanceof Undefined) {
      return "";
    }
    if (v instanceof List<?> l) {
      boolean tuple = v instanceof Tuple;
      StringBuilder b = new StringBuilder(tuple ? "(" : "[");
      for (int i = 0; i < l.size(); i++) {
        b.append(i > 0 ? ", " : "").append(repr(l.get(i)));
      }
      return b.append(tuple && l.size() == 1 ? "," : "").append(tuple ? ')' : ']').toString();
    }
    if (v instanceof Map<?, ?> m) {
      StringBuilder b = new StringBuilder("{");
      int i = 0;
      for (Map.Entry<?, ?> e : m.entrySet()) {
        b.append(i++ > 0 ? ", " : "").append(repr(e.getKey())).append(": ")
            .append(repr(e.getValue()));
      }
      return b.append('}').toString();
    }
    if (v instanceof Namespace n) {
      return "<Namespace " + repr(n.attrs) + ">";
    }
    return "<function>";
  }

  private static String stringRepr(String s) {
    char q = s.indexOf('\'') >= 0 && s.indexOf('"') < 0 ? '"' : '\'';
    StringBuilder b = new StringBuilder().append(q);
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '\\' -> b.append("\\\\");
        case '\n' -> b.append("\\n");
        case '\r' -> b.append("\\r");
        case '\t' -> b.append("\\t");
        default -> {
          if (c == q) {
            b.append('\\').append(c);
          } else if (c < 0x20 || c == 0x7f) {
            b.append(String.format("\\x%02x", (int) c));
          } else {
            b.append(c);
          }
        }
      }
    }
    return b.append(q).toString();
  }

  /** Python's repr of a float: the shortest digits that round-trip, exponent outside 1e-4..1e16. */
  static String floatRepr(double d) {
    if (Double.isNaN(d)) {
      return "nan";
    }
    if (Double.isInfinite(d)) {
      return d > 0 ? "inf" : "-inf";
    }
    if (d == 0) {
      return (1 / d < 0) ? "-0.0" : "0.0";
    }
    BigDecimal b = new BigDecimal(Double.toString(Math.abs(d))).stripTrailingZeros();
    String digits = b.unscaledValue().toString();
    int exp = digits.length() - 1 - b.scale(); // decimal exponent of the first digit
    String sign = d < 0 ? "-" : "";
    if (exp < -4 || exp >= 16) {
      String mant = digits.length() == 1 ? digits : digits.charAt(0) + "." + digits.substring(1);
      return sign + mant + "e" + (exp < 0 ? "-" : "+") + String.format("%02d", Math.abs(exp));
    }
    String plain = b.toPlainString();
    return sign + (plain.contains(".") ? plain : plain + ".0");
  }

  static boolean eq(Object a, Object b) {
    if (a instanceof Undefined || b instanceof Undefined) {
      return a instanceof Undefined && b instanceof Undefined;
    }
    if (a == null || b == null) {
      return a == b;
    }
    if (isNumber(a) && isNumber(b)) {
      return num(a) == num(b);
    }
    if (a instanceof List<?> x && b instanceof List<?> y) {
      if (x.size() != y.size()) {
        return false;
      }
      for (int i = 0; i < x.size(); i++) {
        if (!eq(x.get(i), y.get(i))) {
          return false;
        }
      }
      return true;
    }
    if (a instanceof Map<?, ?> x && b instanceof Map<?, ?> y) {
      if (x.size() != y.size()) {
        return false;
      }
      for (Map.Entry<?, ?> e : x.entrySet()) {
        if (!y.containsKey(e.getKey()) || !eq(e.getValue(), y.get(e.getKey()))) {
          return false;
        }
      }
      return true;
    }
    return a.equals(b);
  }

  /** Python's ordering of two numbers, two strings or two lists; anything else is an error. */
  static int compare(Object a, Object b, int line) {
    if (isNumber(a) && isNumber(b)) {
      return Double.compare(num(a), num(b));
    }
    if (a instanceof String x && b instanceof String y) {
      return Integer.signum(x.compareTo(y));
    }
    if (a instanceof List<?> x && b instanceof List<?> y) {
      for (int i = 0; i < Math.min(x.size(), y.size()); i++) {
        if (!eq(x.get(i), y.get(i))) {
          return compare(x.get(i), y.get(i), line);
        }
      }
      return Integer.compare(x.size(), y.size());
    }
    throw JinjaException.at(line, "cannot order " + typeName(a) + " and " + typeName(b));
  }

  static boolean isNumber(Object v) {
    return v instanceof Long || v instanceof Double || v instanceof Boolean;
  }

  static double num(Object v) {
    if (v instanceof Boolean b) {
      return b ? 1 : 0;
    }
    return ((Number) v).doubleValue();
  }

  static boolean isInt(Object v) {
    return v instanceof Long || v instanceof Boolean;
  }

  static long integer(Object v) {
    if (v instanceof Boolean b) {
      return b ? 1 : 0;
    }
    return (Long) v;
  }

  /** len(v) of a string, list or dict. */
  static long len(Object v, int line) {
    if (v instanceof String s) {
      return s.codePointCount(0, s.length());
    }
    if (v instanceof List<?> l) {
      return l.size();
    }
    if (v instanceof Map<?, ?> m) {
      return m.size();
    }
    if (v instanceof Undefined) {
      return 0;
    }
    throw JinjaException.at(line, "object of type '" + typeName(v) + "' has no len()");
  }

  /** The items a for loop visits: a list's items, a dict's keys, a string's characters. */
  static List<Object> iterate(Object v, int line) {
    if (v instanceof List<?> l) {
      return new ArrayList<>(l);
    }
    if (v instanceof Map<?, ?> m) {
      return new ArrayList<>(m.keySet());
    }
    if (v instanceof String s) {
      List<Object> out = new ArrayList<>();
      s.codePoints().forEach(c -> out.add(new String(Character.toChars(c))));
      return out;
    }
    if (v instanceof Undefined) {
      return List.of();
    }
    throw JinjaException.at(line, "'" + typeName(v) + "' object is not iterable");
  }

  /** json.dumps(v, ensure_ascii=False, indent=indent, sort_keys=sortKeys). */
  static String json(Object v, Integer indent, boolean sortKeys, int line) {
    StringBuilder b = new StringBuilder();
    json(v, indent, sortKeys, 0, b, line);
    return b.toString();
  }

  private static void json(Object v, Integer indent, boolean sortKeys, int depth, StringBuilder b,
      int line) {
    if (v == null) {
      b.append("null");
    } else if (v instanceof Boolean x) {
      b.append(x ? "true" : "false");
    } else if (v instanceof Long x) {
      b.append(x);
    } else if (v instanceof Double x) {
      b.append(Double.isNaN(x) ? "NaN" : Double.isInfinite(x) ? (x > 0 ? "Infinity" : "-Infinity")
          : floatRepr(x));
    } else if (v instanceof String s) {
      jsonString(s, b);
    } else if (v instanceof List<?> l) {
      if (l.isEmpty()) {
        b.append("[]");
        return;
      }
      b.append('[');
      for (int i = 0; i < l.size(); i++) {
        if (i > 0) {
          b.append(indent == null ? ", " : ",");
        }
        newline(indent, depth + 1, b);
        json(l.get(i), indent, sortKeys, depth + 1, b, line);
      }
      newline(indent, depth, b);
      b.append(']');
    } else if (v instanceof Map<?, ?> || v instanceof Namespace) {
      Map<?, ?> m = v instanceof Namespace n ? n.attrs : (Map<?, ?>) v;
      if (m.isEmpty()) {
        b.append("{}");
        return;
      }
      List<Object> keys = new ArrayList<>(m.keySet());
      if (sortKeys) {
        keys.sort((x, y) -> String.valueOf(x).compareTo(String.valueOf(y)));
      }
      b.append('{');
      for (int i = 0; i < keys.size(); i++) {
        if (i > 0) {
          b.append(indent == null ? ", " : ",");
        }
        newline(indent, depth + 1, b);
        jsonString(String.valueOf(keys.get(i)), b);
        b.append(": ");
        json(m.get(keys.get(i)), indent, sortKeys, depth + 1, b, line);
      }
      newline(indent, depth, b);
      b.append('}');
    } else if (v instanceof Undefined) {
      throw JinjaException.at(line, "an undefined value is not JSON serializable");
    } else {
      throw JinjaException.at(line, "a " + typeName(v) + " is not JSON serializable");
    }
  }

  private static void newline(Integer indent, int depth, StringBuilder b) {
    if (indent != null) {
      b.append('\n').append(" ".repeat(indent * depth));
    }
  }

  private static void jsonString(String s, StringBuilder b) {
    b.append('"');
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '"' -> b.append("\\\"");
        case '\\' -> b.append("\\\\");
        case '\n' -> b.append("\\n");
        case '\r' -> b.append("\\r");
        case '\t' -> b.append("\\t");
        case '\b' -> b.append("\\b");
        case '\f' -> b.append("\\f");
        default -> {
          if (c < 0x20) {
            b.append(String.format("\\u%04x", (int) c));
          } else {
            b.append(c);
          }
        }
      }
    }
    b.append('"');
  }

  /** Python's str.strip family: remove characters of {@code chars} (null: whitespace). */
  static String strip(String s, String chars, boolean left, boolean right) {
    int b = 0;
    int e = s.length();
    while (left && b < e && stripped(s.charAt(b), chars)) {
      b++;
    }
    while (right && e > b && stripped(s.charAt(e - 1), chars)) {
      e--;
    }
    return s.substring(b, e);
  }

  private static boolean stripped(char c, String chars) {
    return chars == null ? Character.isWhitespace(c) || Character.isSpaceChar(c)
        : chars.indexOf(c) >= 0;
  }

  /** Python's str.split(sep, maxsplit); sep null splits on runs of whitespace. */
  static List<Object> split(String s, String sep, long maxsplit) {
    List<Object> out = new ArrayList<>();
    if (sep == null) {
      int i = 0;
      int n = s.length();
      while (true) {
        while (i < n && Character.isWhitespace(s.charAt(i))) {
          i++;
        }
        if (i >= n) {
          return out;
        }
        if (maxsplit >= 0 && out.size() == maxsplit) {
          out.add(strip(s.substring(i), null, false, true));
          return out;
        }
        int j = i;
        while (j < n && !Character.isWhitespace(s.charAt(j))) {
          j++;
        }
        out.add(s.substring(i, j));
        i = j;
      }
    }
    if (sep.isEmpty()) {
      throw new JinjaException("empty separator");
    }
    int at = 0;
    while (maxsplit < 0 || out.size() < maxsplit) {
      int k = s.indexOf(sep, at);
      if (k < 0) {
        break;
      }
      out.add(s.substring(at, k));
      at = k + sep.length();
    }
    out.add(s.substring(at));
    return out;
  }

  /** Python's str.title(): the first letter of every run of letters upper, the rest lower. */
  static String title(String s) {
    StringBuilder b = new StringBuilder();
    boolean prevLetter = false;
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      b.append(prevLetter ? Character.toLowerCase(c) : Character.toUpperCase(c));
      prevLetter = Character.isLetter(c);
    }
    return b.toString();
  }
}
