package org.sdpo.verifiers.tool;

import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.sdpo.verifiers.Environment;
import org.sdpo.verifiers.FeedbackLevel;
import org.sdpo.verifiers.Split;
import org.sdpo.verifiers.Task;
import org.sdpo.verifiers.TeachingExample;
import org.sdpo.verifiers.Verdict;
import org.sdpo.verifiers.Verifiers;
import org.sdpo.verifiers.json.Json;
import org.sdpo.verifiers.json.JsonException;

/**
 * Tool calls against a schema. A task is a request in words; the attempt is a JSON call
 * {@code {"name": ..., "arguments": {...}}}. The verifier parses the JSON (errors with line and
 * column), checks that the function exists (suggesting the nearest name), checks the arguments
 * against the specification and then against the call the request asks for, and says precisely
 * what is wrong: {@code missing required argument 'city'}, {@code 'days' must be an integer in
 * 1..7, got 9}.
 */
public final class ToolEnvironment implements Environment {
  private static final List<String> CITIES = List.of("Paris", "Tokyo", "Lima", "Oslo", "Cairo",
      "Zurich", "Denver", "Hanoi", "Dublin", "Quito");
  private static final List<String> PEOPLE = List.of("Ana", "Ben", "Chen", "Dara", "Eli", "Fay");
  private static final List<String> PLACES = List.of("Luigi's", "The Green Room", "Sakura",
      "Casa Lola", "Blue Door");
  private static final List<String> TEXTS = List.of("running late", "see you at noon",
      "call me back", "happy birthday", "the door is open");

  private final FeedbackLevel level;

  public ToolEnvironment(FeedbackLevel level) {
    this.level = Verifiers.standardLevel("tool", level);
  }

  @Override
  public String name() {
    return "tool";
  }

  @Override
  public FeedbackLevel feedback() {
    return level;
  }

  @Override
  public Environment withFeedback(FeedbackLevel l) {
    return new ToolEnvironment(l);
  }

  @Override
  public int maxDifficulty() {
    return 2;
  }

  @Override
  public List<Task> tasks(Split split, int n, long seed, int difficulty) {
    if (difficulty < 0 || difficulty > 2) {
      throw new IllegalArgumentException("tool: difficulty must be 0 (mixed), 1 or 2, got "
          + difficulty);
    }
    Random r = new Random(seed);
    List<Task> out = new ArrayList<>();
    while (out.size() < n) {
      int d = difficulty == 0 ? 1 + r.nextInt(2) : difficulty;
      Object[] req = draw(r, d);
      String prompt = (String) req[0];
      if (Split.of(prompt) != split) {
        continue;
      }
      @SuppressWarnings("unchecked")
      Map<String, Object> call = (Map<String, Object>) req[1];
      Map<String, Object> data = new LinkedHashMap<>();
      data.put("expected", call);
      out.add(new Task("tool-" + split.id() + "-" + seed + "-" + out.size(), "tool", prompt,
          Json.write(call), d, split, data));
    }
    return out;
  }

  private static <T> T pick(Random r, List<T> l) {
    return l.get(r.nextInt(l.size()));
  }

  private static Map<String, Object> call(String name, Object... kv) {
    Map<String, Object> args = new LinkedHashMap<>();
    for (int i = 0; i < kv.length; i += 2) {
      args.put((String) kv[i], kv[i + 1]);
    }
    Map<String, Object> c = new LinkedHashMap<>();
    c.put("name", name);
    c.put("arguments", args);
    return c;
  }

  /** {request text, expected call}; difficulty 2 adds optional arguments. */
  static Object[] draw(Random r, int d) {
    boolean more = d >= 2;
    switch (r.nextInt(5)) {
      case 0: {
        String city = pick(r, CITIES);
        if (!more) {
          return new Object[] {"What is the weather in " + city + "?", call("get_weather", "city", city)};
        }
        long days = 1 + r.nextInt(7);
        String units = r.nextBoolean() ? "celsius" : "fahrenheit";
        return new Object[] {"Weather in " + city + " for the next " + days + " days, in " + units
            + ".", call("get_weather", "city", city, "days", days, "units", units)};
      }
      case 1: {
        String time = String.format("%02d:%02d", r.nextInt(24), 5 * r.nextInt(12));
        if (!more) {
          return new Object[] {"Set an alarm for " + time + ".", call("set_alarm", "time", time)};
        }
        String label = pick(r, List.of("gym", "meds", "standup", "laundry"));
        return new Object[] {"Set an alarm for " + time + " labelled " + label + ".",
            call("set_alarm", "time", time, "label", label)};
      }
      case 2: {
        long amount = 5L * (1 + r.nextInt(200));
        String from = pick(r, ToolCatalog.CURRENCIES);
        String to = pick(r, ToolCatalog.CURRENCIES.stream().filter(c -> !c.equals(from)).toList());
        return new Object[] {"Convert " + amount + " " + from + " to " + to + ".",
            call("convert_currency", "amount", amount, "from", from, "to", to)};
      }
      case 3: {
        String place = pick(r, PLACES);
        long people = 1 + r.nextInt(12);
        String date = String.format("2026-%02d-%02d", 1 + r.nextInt(12), 1 + r.nextInt(28));
        return new Object[] {"Book a table at " + place + " for " + people + " on " + date + ".",
            call("book_table", "restaurant", place, "people", people, "date", date)};
      }
      default: {
        String to = pick(r, PEOPLE);
        String text = pick(r, TEXTS);
        return new Object[] {"Text " + to + ": " + text + ".", call("send_message", "to", to,
            "text", text)};
      }
    }
  }

  @Override
  @SuppressWarnings("unchecked")
  public Verdict verify(Task task, String attempt) {
    Object exp = task.data().get("expected");
    if (!(exp instanceof Map)) {
      return Verdict.fail("bad_task", feedback("Bad Task", "task " + task.id()
          + " has no \"expected\" call"), Map.of());
    }
    Map<String, Object> expected = (Map<String, Object>) exp;
    int open = attempt.indexOf('{');
    int close = attempt.lastIndexOf('}');
    if (open < 0) {
      return Verdict.fail("format_error", feedback("Format Error",
          "no JSON object found; answer with {\"name\": ..., \"arguments\": {...}}"), Map.of());
    }
    Object parsed;
    try {
      parsed = Json.parse(close > open ? attempt.substring(open, close + 1) : attempt.substring(open));
    } catch (JsonException e) {
      return Verdict.fail("json_error", feedback("JSON Syntax Error", e.getMessage()),
          Verifiers.details("line", (long) e.line(), "column", (long) e.column()));
    }
    if (!(parsed instanceof Map<?, ?> callMap) || !(callMap.get("name") instanceof String name)
        || !(callMap.get("arguments") instanceof Map<?, ?> argMap)) {
      return Verdict.fail("format_error", feedback("Format Error",
          "a call is an object {\"name\": string, \"arguments\": object}"), Map.of());
    }
    for (Object k : callMap.keySet()) {
      if (!k.equals("name") && !k.equals("arguments")) {
        return Verdict.fail("format_error", feedback("Format Error", "unexpected key '" + k
            + "' in the call; only \"name\" and \"arguments\" are allowed"), Map.of());
      }
    }
    Map<String, Object> args = (Map<String, Object>) argMap;
    ToolCatalog.Function fn = ToolCatalog.byName(name);
    if (fn == null) {
      String near = ToolCatalog.nearest(name,
          ToolCatalog.FUNCTIONS.stream().map(ToolCatalog.Function::name).toList());
      return Verdict.fail("unknown_function", feedback("Unknown Function", "unknown function '"
          + abbreviate(name) + "'" + (near != null ? "; did you mean '" + near + "'?" : "")),
          Verifiers.details("name", abbreviate(name)));
    }
    List<String> problems = checkSpec(fn, args);
    if (!problems.isEmpty()) {
      return Verdict.fail("invalid_arguments", feedback("Invalid Arguments",
          String.join("\n", problems)), Verifiers.details("problems", (long) problems.size()));
    }
    String expName = (String) expected.get("name");
    if (!name.equals(expName)) {
      return Verdict.fail("wrong_function", feedback("Wrong Function",
          "the request asks for " + expName + ", not " + name), Map.of());
    }
    Map<String, Object> expArgs = (Map<String, Object>) expected.get("arguments");
    List<String> diffs = new ArrayList<>();
    for (Map.Entry<String, Object> e : expArgs.entrySet()) {
      Object got = args.get(e.getKey());
      if (got == null) {
        diffs.add("missing argument '" + e.getKey() + "': the request asks for "
            + Json.write(e.getValue()));
      } else if (!sameValue(got, e.getValue())) {
        diffs.add("'" + e.getKey() + "' is " + abbreviate(Json.write(got))
            + ", but the request asks for " + Json.write(e.getValue()));
      }
    }
    for (String k : args.keySet()) {
      if (!expArgs.containsKey(k)) {
        diffs.add("'" + k + "' was not asked for in the request");
      }
    }
    if (!diffs.isEmpty()) {
      return Verdict.fail("wrong_arguments", feedback("Wrong Arguments", String.join("\n", diffs)),
          Verifiers.details("mismatches", (long) diffs.size()));
    }
    return Verdict.pass(Verifiers.details("name", name));
  }

  private static List<String> checkSpec(ToolCatalog.Function fn, Map<String, Object> args) {
    List<String> problems = new ArrayList<>();
    List<String> names = fn.params().stream().map(ToolCatalog.Param::name).toList();
    for (String k : args.keySet()) {
      if (fn.param(k) == null) {
        String near = ToolCatalog.nearest(k, names);
        problems.add("unknown argument '" + abbreviate(k) + "' for " + fn.name()
            + (near != null ? "; did you mean '" + near + "'?" : "; it takes " + names));
      }
    }
    for (ToolCatalog.Param p : fn.params()) {
      Object v = args.get(p.name());
      if (v == null) {
        if (p.required() && !args.containsKey(p.name())) {
          problems.add("missing required argument '" + p.name() + "'");
        } else if (args.containsKey(p.name())) {
          problems.add("'" + p.name() + "' must not be null");
        }
        continue;
      }
      String problem = checkValue(p, v);
      if (problem != null) {
        problems.add(problem);
      }
    }
    return problems;
  }

  private static String checkValue(ToolCatalog.Param p, Object v) {
    String got = abbreviate(Json.write(v));
    switch (p.type()) {
      case "integer": {
        if (!(v instanceof Long l)) {
          return "'" + p.name() + "' must be an integer in " + p.min() + ".." + p.max() + ", got " + got;
        }
        if (l < p.min() || l > p.max()) {
          return "'" + p.name() + "' must be an integer in " + p.min() + ".." + p.max() + ", got " + got;
        }
        return null;
      }
      case "number": {
        if (!(v instanceof Number)) {
          return "'" + p.name() + "' must be a number, got " + got;
        }
        BigDecimal d = new BigDecimal(v.toString());
        if (d.compareTo(BigDecimal.valueOf(p.min())) <= 0
            || d.compareTo(BigDecimal.valueOf(p.max())) > 0) {
          return "'" + p.name() + "' must be a number greater than " + p.min() + " and at most "
              + p.max() + ", got " + got;
        }
        return null;
      }
      default: {
        if (!(v instanceof String s)) {
          return "'" + p.name() + "' must be a string, got " + got;
        }
        if (p.allowed() != null && !p.allowed().contains(s)) {
          return "'" + p.name() + "' must be one of " + String.join(", ", p.allowed()) + ", got "
              + got;
        }
        if (p.pattern() != null && !s.matches(p.pattern())) {
          return "'" + p.name() + "' must look like " + p.patternHint() + ", got " + got;
        }
        if (s.isBlank()) {
          return "'" + p.name() + "' must not be empty";
        }
        return null;
      }
    }
  }

  private static boolean sameValue(Object a, Object b) {
    if (a instanceof Number && b instanceof Number) {
      return new BigDecimal(a.toString()).compareTo(new BigDecimal(b.toString())) == 0;
    }
    if (a instanceof String x && b instanceof String y) {
      return x.trim().equalsIgnoreCase(y.trim());
    }
    return a.equals(b);
  }

  private static String abbreviate(String s) {
    return s.length() <= 60 ? s : s.substring(0, 57) + "...";
  }

  private String feedback(String summary, String full) {
    return Verifiers.feedbackAt(level, summary, full);
  }

  @Override
  public List<TeachingExample> teaching(Split split, int n, long seed) {
    Random r = new Random(seed ^ 0x7001L);
    List<TeachingExample> out = new ArrayList<>();
    for (Task t : tasks(split, n, seed, 0)) {
      String wrong = mutate(t.reference(), r);
      Verdict v = verify(t, wrong);
      if (!v.success()) {
        out.add(new TeachingExample(t, t.reference(), wrong, v));
      }
    }
    return out;
  }

  /** A plausible wrong call: a misspelled name, a dropped argument, a bad value, broken JSON. */
  public static String mutate(String call, Random r) {
    switch (r.nextInt(5)) {
      case 0: {
        int i = call.indexOf("\"name\":\"") + 8;
        return call.substring(0, i + 1) + call.substring(i + 2);
      }
      case 1: {
        int i = call.indexOf("\"arguments\":{") + 13;
        int j = call.indexOf(',', i);
        int end = j < 0 ? call.lastIndexOf('}', call.length() - 2) : j + 1;
        return call.substring(0, i) + call.substring(end);
      }
      case 2:
        return call.replaceFirst(":(\\d+)", ":99");
      case 3:
        return call.substring(0, call.length() - 1);
      default:
        return call.replaceFirst("\":\"", "\":\"x");
    }
  }
}
