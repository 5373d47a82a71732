package org.sdpo.verifiers.tool;

import java.util.List;

/** The functions a tool call may name, with JSON-schema-like argument specifications. */
final class ToolCatalog {
  private ToolCatalog() {}

  /** One argument: a name, a type and its constraints. */
  record Param(String name, String type, boolean required, List<String> allowed, Long min,
      Long max, String pattern, String patternHint) {
    static Param string(String name, boolean required) {
      return new Param(name, "string", required, null, null, null, null, null);
    }

    static Param integer(String name, boolean required, long min, long max) {
      return new Param(name, "integer", required, null, min, max, null, null);
    }

    static Param number(String name, boolean required, long min, long max) {
      return new Param(name, "number", required, null, min, max, null, null);
    }

    static Param oneOf(String name, boolean required, List<String> allowed) {
      return new Param(name, "string", required, allowed, null, null, null, null);
    }

    static Param pattern(String name, boolean required, String regex, String hint) {
      return new Param(name, "string", required, null, null, null, regex, hint);
    }
  }

  record Function(String name, String description, List<Param> params) {
    Param param(String n) {
      return params.stream().filter(p -> p.name().equals(n)).findFirst().orElse(null);
    }
  }

  static final List<String> CURRENCIES = List.of("USD", "EUR", "GBP", "JPY", "CHF");

  static final List<Function> FUNCTIONS = List.of(
      new Function("get_weather", "weather forecast for a city", List.of(
          Param.string("city", true),
          Param.integer("days", false, 1, 7),
          Param.oneOf("units", false, List.of("celsius", "fahrenheit")))),
      new Function("set_alarm", "an alarm at a time of day", List.of(
          Param.pattern("time", true, "([01]\\d|2[0-3]):[0-5]\\d", "HH:MM (24-hour)"),
          Param.string("label", false))),
      new Function("convert_currency", "convert an amount between currencies", List.of(
          Param.number("amount", true, 0, 1_000_000),
          Param.oneOf("from", true, CURRENCIES),
          Param.oneOf("to", true, CURRENCIES))),
      new Function("book_table", "a restaurant reservation", List.of(
          Param.string("restaurant", true),
          Param.integer("people", true, 1, 12),
          Param.pattern("date", true, "\\d{4}-\\d{2}-\\d{2}", "YYYY-MM-DD"))),
      new Function("send_message", "a text message to a contact", List.of(
          Param.string("to", true),
          Param.string("text", true))));

  static Function byName(String name) {
    return FUNCTIONS.stream().filter(f -> f.name().equals(name)).findFirst().orElse(null);
  }

  /** Levenshtein distance, for "did you mean" suggestions. */
  static int distance(String a, String b) {
    if (a.length() > 64 || b.length() > 64) {
      return Integer.MAX_VALUE;
    }
    int[] prev = new int[b.length() + 1];
    int[] cur = new int[b.length() + 1];
    for (int j = 0; j <= b.length(); j++) {
      prev[j] = j;
    }
    for (int i = 1; i <= a.length(); i++) {
      cur[0] = i;
      for (int j = 1; j <= b.length(); j++) {
        int sub = prev[j - 1] + (a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1);
        cur[j] = Math.min(sub, Math.min(prev[j] + 1, cur[j - 1] + 1));
      }
      int[] t = prev;
      prev = cur;
      cur = t;
    }
    return prev[b.length()];
  }

  /** The closest name within distance 3, or null. */
  static String nearest(String name, List<String> names) {
    String best = null;
    int bestD = 4;
    for (String n : names) {
      int d = distance(name, n);
      if (d < bestD) {
        bestD = d;
        best = n;
      }
    }
    return best;
  }
}
