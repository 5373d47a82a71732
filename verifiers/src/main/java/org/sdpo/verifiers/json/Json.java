package org.sdpo.verifiers.json;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A small, strict JSON reader and writer (RFC 8259) for task files, tool calls and grader
 * verdicts. Values are {@code Map<String,Object>} (insertion-ordered), {@code List<Object>},
 * {@code String}, {@code Long} or {@code BigInteger} (integers), {@code BigDecimal} (other
 * numbers), {@code Boolean} and {@code null}.
 *
 * <p>Reading is bounded: nesting deeper than {@link #MAX_DEPTH} and inputs longer than {@link
 * #MAX_LENGTH} are errors, so no input can overflow the stack or exhaust memory. Every error is a
 * {@link JsonException} that names the line and column and what was expected.
 */
public final class Json {
  /** The deepest nesting of arrays and objects accepted. */
  public static final int MAX_DEPTH = 64;

  /** The longest input accepted, in characters. */
  public static final int MAX_LENGTH = 1 << 22;

  private final String s;
  private int pos;
  private int depth;

  private Json(String s) {
    this.s = s;
  }

  /** Parses one JSON value that makes up the whole text (surrounding whitespace allowed). */
  public static Object parse(String text) {
    if (text.length() > MAX_LENGTH) {
      throw new JsonException("input is longer than " + MAX_LENGTH + " characters", 1, 1);
    }
    Json p = new Json(text);
    p.ws();
    if (p.pos >= text.length()) {
      throw p.error("expected a JSON value, found the end of the input");
    }
    Object v = p.value();
    p.ws();
    if (p.pos < text.length()) {
      throw p.error("unexpected " + p.describeHere() + " after the JSON value");
    }
    return v;
  }

  /** Parses a JSON object (a map); anything else is an error. */
  @SuppressWarnings("unchecked")
  public static Map<String, Object> parseObject(String text) {
    Object v = parse(text);
    if (!(v instanceof Map)) {
      throw new JsonException("expected a JSON object, found " + typeName(v), 1, 1);
    }
    return (Map<String, Object>) v;
  }

  /** The JSON type of a parsed value: object, array, string, number, boolean or null. */
  public static String typeName(Object v) {
    if (v == null) {
      return "null";
    } else if (v instanceof Map) {
      return "object";
    } else if (v instanceof List) {
      return "array";
    } else if (v instanceof String) {
      return "string";
    } else if (v instanceof Boolean) {
      return "boolean";
    }
    return "number";
  }

  private JsonException error(String message) {
    int line = 1;
    int col = 1;
    for (int i = 0; i < pos && i < s.length(); i++) {
      if (s.charAt(i) == '\n') {
        line++;
        col = 1;
      } else {
        col++;
      }
    }
    return new JsonException(message, line, col);
  }

  private String describeHere() {
    if (pos >= s.length()) {
      return "end of input";
    }
    char c = s.charAt(pos);
    return c < 32 ? String.format("control character U+%04X", (int) c) : "'" + c + "'";
  }

  private void ws() {
    while (pos < s.length()) {
      char c = s.charAt(pos);
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
        pos++;
      } else {
        break;
      }
    }
  }

  private Object value() {
    if (pos >= s.length()) {
      throw error("expected a JSON value, found the end of the input");
    }
    char c = s.charAt(pos);
    switch (c) {
      case '{':
        return object();
      case '[':
        return array();
      case '"':
        return string();
      case 't':
        return literal("true", Boolean.TRUE);
      case 'f':
        return literal("false", Boolean.FALSE);
      case 'n':
        return literal("null", null);
      default:
        if (c == '-' || (c >= '0' && c <= '9')) {
          return number();
        }
        if (c == '\'') {
          throw error("strings must use double quotes, found a single quote");
        }
        throw error("expected a JSON value, found " + describeHere());
    }
  }

  private Object literal(String word, Object v) {
    if (!s.startsWith(word, pos)) {
      throw error("expected a JSON value, found " + describeHere());
    }
    pos += word.length();
    return v;
  }

  private void enter() {
    if (++depth > MAX_DEPTH) {
      throw error("nesting deeper than " + MAX_DEPTH + " levels");
    }
  }

  private Map<String, Object> object() {
    enter();
    pos++; // {
    Map<String, Object> m = new LinkedHashMap<>();
    ws();
    if (pos < s.length() && s.charAt(pos) == '}') {
      pos++;
      depth--;
      return m;
    }
    while (true) {
      ws();
      if (pos >= s.length() || s.charAt(pos) != '"') {
        throw error("expected a property name in double quotes, found " + describeHere());
      }
      String key = string();
      ws();
      if (pos >= s.length() || s.charAt(pos) != ':') {
        throw error("expected ':' after property name \"" + key + "\", found " + describeHere());
      }
      pos++;
      ws();
      Object v = value();
      if (m.containsKey(key)) {
        throw error("duplicate property \"" + key + "\"");
      }
      m.put(key, v);
      ws();
      if (pos < s.length() && s.charAt(pos) == ',') {
        pos++;
        continue;
      }
      if (pos < s.length() && s.charAt(pos) == '}') {
        pos++;
        depth--;
        return m;
      }
      throw error("expected ',' or '}' in object, found " + describeHere());
    }
  }

  private List<Object> array() {
    enter();
    pos++; // [
    List<Object> l = new ArrayList<>();
    ws();
    if (pos < s.length() && s.charAt(pos) == ']') {
      pos++;
      depth--;
      return l;
    }
    while (true) {
      ws();
      l.add(value());
      ws();
      if (pos < s.length() && s.charAt(pos) == ',') {
        pos++;
        continue;
      }
      if (pos < s.length() && s.charAt(pos) == ']') {
        pos++;
        depth--;
        return l;
      }
      throw error("expected ',' or ']' in array, found " + describeHere());
    }
  }

  private String string() {
    pos++; // "
    StringBuilder sb = new StringBuilder();
    while (true) {
      if (pos >= s.length()) {
        throw error("unterminated string");
      }
      char c = s.charAt(pos++);
      if (c == '"') {
        return sb.toString();
      }
      if (c < 32) {
        pos--;
        throw error("unescaped " + describeHere() + " in string");
      }
      if (c != '\\') {
        sb.append(c);
        continue;
      }
      if (pos >= s.length()) {
        throw error("unterminated escape in string");
      }
      char e = s.charAt(pos++);
      switch (e) {
        case '"':
        case '\\':
        case '/':
          sb.append(e);
          break;
        case 'b':
          sb.append('\b');
          break;
        case 'f':
          sb.append('\f');
          break;
        case 'n':
          sb.append('\n');
          break;
        case 'r':
          sb.append('\r');
          break;
        case 't':
          sb.append('\t');
          break;
        case 'u':
          if (pos + 4 > s.length()) {
            throw error("incomplete \\u escape");
          }
          try {
            sb.append((char) Integer.parseInt(s.substring(pos, pos + 4), 16));
          } catch (NumberFormatException ex) {
            throw error("bad \\u escape \\u" + s.substring(pos, pos + 4));
          }
          pos += 4;
          break;
        default:
          pos--;
          throw error("unknown escape '\\" + e + "' in string");
      }
    }
  }

  private Object number() {
    int start = pos;
    if (s.charAt(pos) == '-') {
      pos++;
    }
    if (pos >= s.length() || !Character.isDigit(s.charAt(pos))) {
      throw error("expected a digit in number, found " + describeHere());
    }
    if (s.charAt(pos) == '0' && pos + 1 < s.length() && Character.isDigit(s.charAt(pos + 1))) {
      throw error("numbers must not have leading zeros");
    }
    while (pos < s.length() && Character.isDigit(s.charAt(pos))) {
      pos++;
    }
    boolean integer = true;
    if (pos < s.length() && s.charAt(pos) == '.') {
      integer = false;
      pos++;
      if (pos >= s.length() || !Character.isDigit(s.charAt(pos))) {
        throw error("expected a digit after the decimal point, found " + describeHere());
      }
      while (pos < s.length() && Character.isDigit(s.charAt(pos))) {
        pos++;
      }
    }
    if (pos < s.length() && (s.charAt(pos) == 'e' || s.charAt(pos) == 'E')) {
      integer = false;
      pos++;
      if (pos < s.length() && (s.charAt(pos) == '+' || s.charAt(pos) == '-')) {
        pos++;
      }
      if (pos >= s.length() || !Character.isDigit(s.charAt(pos))) {
        throw error("expected a digit in the exponent, found " + describeHere());
      }
      while (pos < s.length() && Character.isDigit(s.charAt(pos))) {
        pos++;
      }
    }
    String text = s.substring(start, pos);
    if (text.length() > 400) {
      throw error("number with more than 400 characters");
    }
    if (integer) {
      BigInteger b = new BigInteger(text);
      return b.bitLength() < 64 ? (Object) b.longValue() : b;
    }
    BigDecimal d;
    try {
      d = new BigDecimal(text);
    } catch (NumberFormatException e) { // an exponent beyond int range, e.g. 1e99999999999999999999
      pos = start; // point at the number
      throw error("number exponent out of range in " + abbreviateNumber(text));
    }
    if (Math.abs((long) d.scale()) > 1000) {
      pos = start;
      throw error("number exponent out of range in " + abbreviateNumber(text));
    }
    return d;
  }

  private static String abbreviateNumber(String text) {
    return text.length() <= 40 ? text : text.substring(0, 37) + "...";
  }

  // ---------------------------------------------------------------- writing

  /** Compact JSON text of a value made of maps, lists, strings, numbers, booleans and null. */
  public static String write(Object v) {
    StringBuilder sb = new StringBuilder();
    write(v, sb);
    return sb.toString();
  }

  private static void write(Object v, StringBuilder sb) {
    if (v == null) {
      sb.append("null");
    } else if (v instanceof String) {
      quote((String) v, sb);
    } else if (v instanceof Boolean || v instanceof Long || v instanceof Integer
        || v instanceof BigInteger || v instanceof BigDecimal || v instanceof Short) {
      sb.append(v);
    } else if (v instanceof Double || v instanceof Float) {
      double d = ((Number) v).doubleValue();
      if (Double.isFinite(d)) {
        sb.append(d == Math.rint(d) && Math.abs(d) < 1e15 ? Long.toString((long) d) : Double.toString(d));
      } else {
        sb.append("null");
      }
    } else if (v instanceof Map) {
      sb.append('{');
      Iterator<? extends Map.Entry<?, ?>> it = ((Map<?, ?>) v).entrySet().iterator();
      while (it.hasNext()) {
        Map.Entry<?, ?> e = it.next();
        quote(String.valueOf(e.getKey()), sb);
        sb.append(':');
        write(e.getValue(), sb);
        if (it.hasNext()) {
          sb.append(',');
        }
      }
      sb.append('}');
    } else if (v instanceof Iterable) {
      sb.append('[');
      Iterator<?> it = ((Iterable<?>) v).iterator();
      while (it.hasNext()) {
        write(it.next(), sb);
        if (it.hasNext()) {
          sb.append(',');
        }
      }
      sb.append(']');
    } else if (v instanceof int[]) {
      List<Object> l = new ArrayList<>();
      for (int i : (int[]) v) {
        l.add((long) i);
      }
      write(l, sb);
    } else {
      quote(v.toString(), sb);
    }
  }

  /** Appends {@code s} as a JSON string literal. */
  public static void quote(String s, StringBuilder sb) {
    sb.append('"');
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '"':
          sb.append("\\\"");
          break;
        case '\\':
          sb.append("\\\\");
          break;
        case '\n':
          sb.append("\\n");
          break;
        case '\r':
          sb.append("\\r");
          break;
        case '\t':
          sb.append("\\t");
          break;
        default:
          if (c < 32 || (Character.isSurrogate(c) && !validSurrogateAt(s, i))) {
            sb.append(String.format("\\u%04x", (int) c));
          } else {
            sb.append(c);
          }
      }
    }
    sb.append('"');
  }

  private static boolean validSurrogateAt(String s, int i) {
    char c = s.charAt(i);
    if (Character.isHighSurrogate(c)) {
      return i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1));
    }
    return i > 0 && Character.isHighSurrogate(s.charAt(i - 1));
  }
}
