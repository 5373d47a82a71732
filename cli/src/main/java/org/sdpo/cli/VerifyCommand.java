package org.sdpo.cli;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import org.sdpo.verifiers.Environment;
import org.sdpo.verifiers.Task;
import org.sdpo.verifiers.Verdict;
import org.sdpo.verifiers.Verifiers;
import org.sdpo.verifiers.json.Json;
import org.sdpo.verifiers.json.JsonException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code ./sdpo verify}: grades attempts by hand. The attempt file is either plain text (one
 * attempt, graded against every task of the task file) or JSONL, one attempt per line as a JSON
 * string or an object {@code {"task_id": ..., "attempt": ...}} (without task_id, line i is graded
 * against task i, or against the only task).
 */
@Command(name = "verify", mixinStandardHelpOptions = true,
    description = "Grade attempts with an environment and print the verdicts.")
final class VerifyCommand implements Callable<Integer> {
  @Mixin EnvOptions envOptions;

  @Option(names = "--task-file", required = true, description = "Tasks, JSONL (as ./sdpo tasks --out writes).")
  Path taskFile;

  @Option(names = "--attempt-file", required = true,
      description = "One attempt as plain text, or many as JSONL (.jsonl).")
  Path attemptFile;

  @Option(names = "--json", description = "Print one JSON verdict per line instead of text.")
  boolean json;

  @Option(names = "--threads", description = "Graders run in parallel (default: cores).")
  int threads = Runtime.getRuntime().availableProcessors();

  @Override
  public Integer call() throws IOException {
    List<Task> tasks = EnvOptions.readTasks(taskFile);
    if (tasks.isEmpty()) {
      throw new IllegalArgumentException(taskFile + " holds no tasks");
    }
    Environment env = envOptions.build(tasks);
    List<Task> forAttempt = new ArrayList<>();
    List<String> attempts = new ArrayList<>();
    String text = org.sdpo.transformer.io.TextFiles.readString(attemptFile);
    if (attemptFile.toString().endsWith(".jsonl")) {
      String[] lines = text.split("\n");
      int k = 0;
      for (int i = 0; i < lines.length; i++) {
        if (lines[i].isBlank()) {
          continue;
        }
        Object v;
        try {
          v = Json.parse(lines[i]);
        } catch (JsonException e) {
          throw new IllegalArgumentException(attemptFile + ", line " + (i + 1) + ": " + e.getMessage());
        }
        String attempt;
        Task task;
        if (v instanceof String s) {
          attempt = s;
          task = tasks.size() == 1 ? tasks.get(0) : byIndex(tasks, k, attemptFile, i);
        } else if (v instanceof Map<?, ?> m && m.get("attempt") instanceof String s) {
          attempt = s;
          Object id = m.get("task_id");
          int lineNo = i + 1;
          task = id == null ? (tasks.size() == 1 ? tasks.get(0) : byIndex(tasks, k, attemptFile, i))
              : tasks.stream().filter(t -> t.id().equals(String.valueOf(id))).findFirst()
                  .orElseThrow(() -> new IllegalArgumentException(attemptFile + ", line " + lineNo
                      + ": no task with id " + id + " in " + taskFile));
        } else {
          throw new IllegalArgumentException(attemptFile + ", line " + (i + 1)
              + ": expected a JSON string or an object with a string \"attempt\"");
        }
        forAttempt.add(task);
        attempts.add(attempt);
        k++;
      }
    } else {
      for (Task t : tasks) {
        forAttempt.add(t);
        attempts.add(text);
      }
    }
    List<Verdict> verdicts = Verifiers.verifyAll(env, forAttempt, attempts, threads);
    int passed = 0;
    for (int i = 0; i < verdicts.size(); i++) {
      Verdict v = verdicts.get(i);
      passed += v.success() ? 1 : 0;
      if (json) {
        Map<String, Object> m = new java.util.LinkedHashMap<>();
        m.put("task_id", forAttempt.get(i).id());
        m.putAll(v.toMap());
        System.out.println(Json.write(m));
      } else {
        System.out.printf(Locale.ROOT, "task %s (%s, feedback %s): %s, reward %.2f%n",
            forAttempt.get(i).id(), env.name(), env.feedback().id(),
            v.success() ? "PASS" : "FAIL " + v.kind(), v.reward());
        if (!v.feedback().isEmpty()) {
          System.out.println(v.feedback().indent(2).stripTrailing());
        }
      }
    }
    if (!json) {
      System.out.printf(Locale.ROOT, "%d of %d attempts passed%n", passed, verdicts.size());
    }
    return 0;
  }

  private static Task byIndex(List<Task> tasks, int k, Path file, int line) {
    if (k >= tasks.size()) {
      throw new IllegalArgumentException(file + ", line " + (line + 1) + ": attempt " + (k + 1)
          + " has no task (the task file has " + tasks.size() + "); give a \"task_id\"");
    }
    return tasks.get(k);
  }
}
