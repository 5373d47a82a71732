package org.sdpo.verifiers.code;

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

/**
 * Programming by example in a tiny Python-like language. A task names a function, describes it in
 * one line and shows three input/output examples; the examples and hidden tests decide success.
 * Feedback reads like a real judge's: the syntax error with line, column and what was expected;
 * the runtime error with the test that raised it; the first failing test as {@code f(3) returned
 * 9, expected 10}; a step budget exceeded.
 */
public final class CodeEnvironment implements Environment {
  /** Steps (evaluated nodes) one test may take before "Time Limit Exceeded". */
  public static final long STEP_BUDGET = 20_000;

  static final int EXAMPLES = 3;

  private final FeedbackLevel level;

  public CodeEnvironment(FeedbackLevel level) {
    this.level = Verifiers.standardLevel("code", level);
  }

  @Override
  public String name() {
    return "code";
  }

  @Override
  public FeedbackLevel feedback() {
    return level;
  }

  @Override
  public Environment withFeedback(FeedbackLevel l) {
    return new CodeEnvironment(l);
  }

  @Override
  public int maxDifficulty() {
    return CodeTasks.MAX_DIFFICULTY;
  }

  @Override
  public List<Task> tasks(Split split, int n, long seed, int difficulty) {
    if (difficulty < 0 || difficulty > CodeTasks.MAX_DIFFICULTY) {
      throw new IllegalArgumentException("code: difficulty must be 0 (mixed) or 1.."
          + CodeTasks.MAX_DIFFICULTY + ", got " + difficulty);
    }
    Random r = new Random(seed);
    List<Task> out = new ArrayList<>();
    int draws = 0;
    while (out.size() < n) {
      if (++draws > 100_000 + 1000L * n) {
        throw new IllegalStateException("code: could not draw " + n + " " + split.id()
            + " tasks of difficulty " + difficulty);
      }
      int d = difficulty == 0 ? 1 + r.nextInt(CodeTasks.MAX_DIFFICULTY) : difficulty;
      CodeTasks.Spec spec = CodeTasks.draw(r, d);
      if (Split.of(spec.reference()) != split) {
        continue;
      }
      out.add(toTask(spec, split, "code-" + split.id() + "-" + seed + "-" + out.size()));
    }
    return out;
  }

  private static Task toTask(CodeTasks.Spec spec, Split split, String id) {
    List<Ast.Function> program;
    try {
      program = Parser.parse(spec.reference());
    } catch (SyntaxError e) {
      throw new IllegalStateException("reference does not parse: " + spec.reference(), e);
    }
    List<Object> cases = new ArrayList<>();
    for (List<Long> in : spec.inputs()) {
      try {
        Object expected = new Interpreter(program, STEP_BUDGET).call("f", new ArrayList<>(in), null);
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("args", in);
        c.put("expected", expected);
        cases.add(c);
      } catch (RuntimeFailure e) {
        throw new IllegalStateException("reference fails on " + in + ": " + e.describe());
      }
    }
    String sig = "f(" + String.join(", ", spec.params()) + ")";
    StringBuilder prompt = new StringBuilder("Write " + sig + ": " + spec.description() + ".\n");
    for (int i = 0; i < EXAMPLES; i++) {
      prompt.append(call(cases.get(i))).append(" == ")
          .append(Interpreter.repr(((Map<?, ?>) cases.get(i)).get("expected"))).append('\n');
    }
    Map<String, Object> data = new LinkedHashMap<>();
    data.put("function", "f");
    data.put("params", spec.params());
    data.put("description", spec.description());
    data.put("tests", cases);
    return new Task(id, "code", prompt.toString(), spec.reference(), spec.difficulty(), split, data);
  }

  private static String call(Object testCase) {
    List<?> args = (List<?>) ((Map<?, ?>) testCase).get("args");
    StringBuilder sb = new StringBuilder("f(");
    for (int i = 0; i < args.size(); i++) {
      sb.append(i == 0 ? "" : ", ").append(Interpreter.repr(args.get(i)));
    }
    return sb.append(')').toString();
  }

  /** The code inside the first ``` fence if there is one, else the whole attempt. */
  static String extractCode(String attempt) {
    int open = attempt.indexOf("```");
    if (open < 0) {
      return attempt;
    }
    int lineEnd = attempt.indexOf('\n', open);
    if (lineEnd < 0) {
      return "";
    }
    int close = attempt.indexOf("```", lineEnd);
    return close < 0 ? attempt.substring(lineEnd + 1) : attempt.substring(lineEnd + 1, close);
  }

  @Override
  public Verdict verify(Task task, String attempt) {
    Object fnObj = task.data().get("function");
    Object testsObj = task.data().get("tests");
    Object paramsObj = task.data().get("params");
    if (!(fnObj instanceof String fn) || !(testsObj instanceof List<?> tests)
        || !(paramsObj instanceof List<?> params)) {
      return Verdict.fail("bad_task", feedback("Bad Task",
          "task " + task.id() + " lacks \"function\", \"params\" or \"tests\""), Map.of());
    }
    String code = extractCode(attempt);
    List<Ast.Function> program;
    try {
      program = Parser.parse(code);
    } catch (SyntaxError e) {
      return Verdict.fail("syntax_error", feedback("Syntax Error",
          "line " + e.line + ", column " + e.col + ": " + e.detail + "\n" + pointAt(code, e.line, e.col)),
          Verifiers.details("line", (long) e.line, "column", (long) e.col, "error", e.detail));
    }
    Ast.Function target = program.stream().filter(f -> f.name().equals(fn)).findFirst().orElse(null);
    if (target == null) {
      return Verdict.fail("format_error", feedback("Format Error",
          "no function named '" + fn + "' is defined; write def " + fn + "("
              + String.join(", ", params.stream().map(String::valueOf).toList()) + "):"),
          Verifiers.details("defined", program.stream().map(Ast.Function::name).toList()));
    }
    if (target.params().size() != params.size()) {
      return Verdict.fail("wrong_signature", feedback("Wrong Signature",
          fn + " must take " + params.size() + " argument" + (params.size() == 1 ? "" : "s")
              + " " + params + ", yours takes " + target.params().size() + " " + target.params()),
          Map.of());
    }
    long totalSteps = 0;
    for (int k = 0; k < tests.size(); k++) {
      Map<?, ?> c = (Map<?, ?>) tests.get(k);
      List<Object> args = new ArrayList<>((List<?>) c.get("args"));
      Object expected = c.get("expected");
      String callText = call(c);
      String which = (k < EXAMPLES ? "example " + (k + 1) : "hidden test " + (k + 1 - EXAMPLES))
          + " of " + tests.size();
      Interpreter in = new Interpreter(program, STEP_BUDGET);
      Object got;
      try {
        got = in.call(fn, args, null);
      } catch (RuntimeFailure e) {
        if (e.timeout) {
          return Verdict.fail("timeout", feedback("Time Limit Exceeded",
              callText + " ran for more than " + STEP_BUDGET + " steps (" + which + ")"),
              Verifiers.details("passed", (long) k, "tests", (long) tests.size()));
        }
        return Verdict.fail("runtime_error", feedback("Runtime Error",
            callText + " raised " + e.describe() + " (" + which + ")"),
            Verifiers.details("passed", (long) k, "tests", (long) tests.size(), "error", e.type));
      } catch (StackOverflowError e) {
        return Verdict.fail("runtime_error", feedback("Runtime Error",
            callText + " raised RecursionError: the program nests too deeply (" + which + ")"),
            Verifiers.details("passed", (long) k, "tests", (long) tests.size(), "error",
                "RecursionError"));
      }
      totalSteps += in.steps();
      if (!got.equals(expected)) {
        return Verdict.fail("wrong_answer", feedback("Wrong Answer",
            callText + " returned " + Interpreter.repr(got) + ", expected "
                + Interpreter.repr(expected) + " (" + which + ")"),
            Verifiers.details("passed", (long) k, "tests", (long) tests.size()));
      }
    }
    return Verdict.pass(Verifiers.details("tests", (long) tests.size(), "steps", totalSteps));
  }

  private String feedback(String summary, String full) {
    return Verifiers.feedbackAt(level, summary, full);
  }

  /** The source line and a caret under the column, like a compiler shows. */
  private static String pointAt(String code, int line, int col) {
    String[] lines = code.replace("\r\n", "\n").split("\n", -1);
    if (line < 1 || line > lines.length) {
      return "";
    }
    String l = lines[line - 1];
    if (l.length() > 120) {
      return "";
    }
    return "    " + l + "\n    " + " ".repeat(Math.max(0, Math.min(col - 1, l.length()))) + "^";
  }

  @Override
  public List<TeachingExample> teaching(Split split, int n, long seed) {
    List<Task> tasks = tasks(split, n, seed, 0);
    Random r = new Random(seed ^ 0x9e3779b97f4a7c15L);
    List<TeachingExample> out = new ArrayList<>();
    for (Task t : tasks) {
      for (int tries = 0; tries < 50; tries++) {
        String wrong = Mutations.mutate(t.reference(), r);
        Verdict v = verify(t, wrong);
        if (!v.success()) {
          out.add(new TeachingExample(t, t.reference(), wrong, v));
          break;
        }
      }
    }
    return out;
  }
}
