package org.sdpo.cli;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import org.sdpo.verifiers.Environment;
import org.sdpo.verifiers.Split;
import org.sdpo.verifiers.Task;
import org.sdpo.verifiers.TeachingExample;
import org.sdpo.verifiers.Verifiers;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code ./sdpo tasks}: shows sample tasks with reference solutions, or writes them as JSONL. */
@Command(name = "tasks", mixinStandardHelpOptions = true,
    description = "Show or write sample tasks of an environment, with reference solutions.")
final class TasksCommand implements Callable<Integer> {
  @Mixin EnvOptions envOptions;

  @Option(names = "--split", description = "train or test (default: ${DEFAULT-VALUE}).")
  String split = "train";

  @Option(names = "--n", description = "How many (default: ${DEFAULT-VALUE}).")
  int n = 5;

  @Option(names = "--seed", description = "Seed of the generator (default: ${DEFAULT-VALUE}).")
  long seed = 1;

  @Option(names = "--difficulty", description = "1.. (the environment's max), or 0 for mixed "
      + "(default: ${DEFAULT-VALUE}).")
  int difficulty = 0;

  @Option(names = "--teaching", description = "Show teaching material: a wrong attempt and its feedback per task.")
  boolean teaching;

  @Option(names = "--out", description = "Write the tasks to this JSONL file instead of printing them.")
  Path out;

  @Option(names = "--task-file", description = "external: the tasks to draw from (JSONL).")
  Path taskFile;

  @Override
  public Integer call() throws IOException {
    if (n < 1) {
      throw new IllegalArgumentException("--n must be at least 1, got " + n);
    }
    List<Task> source = taskFile == null ? List.of() : EnvOptions.readTasks(taskFile);
    Environment env = envOptions.build(source);
    Split sp = Split.parse(split);
    if (teaching) {
      for (TeachingExample e : env.teaching(sp, n, seed)) {
        System.out.println("== task " + e.task().id() + " (difficulty " + e.task().difficulty() + ")");
        System.out.println(e.task().prompt().stripTrailing());
        System.out.println("-- reference:\n" + e.solution().stripTrailing());
        System.out.println("-- wrong attempt:\n" + e.wrongAttempt().stripTrailing());
        System.out.println("-- feedback (" + env.feedback().id() + "):\n"
            + e.verdict().feedback().stripTrailing());
        System.out.println();
      }
      return 0;
    }
    List<Task> tasks = env.tasks(sp, n, seed, difficulty);
    if (out != null) {
      Verifiers.writeTasks(out, tasks);
      System.out.println("wrote " + tasks.size() + " " + env.name() + " " + sp.id() + " tasks to " + out);
      return 0;
    }
    for (Task t : tasks) {
      System.out.println("== task " + t.id() + " (" + t.env() + ", " + t.split().id()
          + ", difficulty " + t.difficulty() + ")");
      System.out.println(t.prompt().stripTrailing());
      System.out.println("-- reference:\n" + t.reference().stripTrailing());
      System.out.println();
    }
    return 0;
  }
}
