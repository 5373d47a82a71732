package org.sdpo.cli;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.sdpo.verifiers.Environment;
import org.sdpo.verifiers.FeedbackLevel;
import org.sdpo.verifiers.Task;
import org.sdpo.verifiers.Verifiers;
import org.sdpo.verifiers.external.ExternalEnvironment;
import picocli.CommandLine.Option;

/** The options that choose an environment, shared by verify and tasks. */
final class EnvOptions {
  @Option(names = "--env", required = true,
      description = "Environment: code, arith, tool, addition, or external (with --command).")
  String env;

  @Option(names = "--feedback", description = "Feedback level: none, summary, unusable, partial "
      + "or full, as the environment offers (default: the environment's natural level).")
  String feedback;

  @Option(names = "--command", description = "external: the grader command (split on spaces).")
  String command;

  @Option(names = "--timeout", description = "external: seconds per attempt (default: ${DEFAULT-VALUE}).")
  double timeoutSeconds = 10;

  /** The environment; {@code tasks} are needed by external only. */
  Environment build(List<Task> tasks) {
    Environment e;
    if (env.equals("external")) {
      if (command == null || command.isBlank()) {
        throw new IllegalArgumentException("--env external needs --command 'your grader'");
      }
      e = new ExternalEnvironment(List.of(command.trim().split("\\s+")), tasks,
          FeedbackLevel.FULL, Duration.ofMillis((long) (timeoutSeconds * 1000)), 1 << 20, null);
    } else {
      e = Verifiers.byName(env);
    }
    return feedback == null ? e : e.withFeedback(FeedbackLevel.parse(feedback));
  }

  static List<Task> readTasks(Path file) {
    try {
      return Verifiers.readTasks(file);
    } catch (IOException e) {
      throw new IllegalArgumentException("cannot read task file " + file + ": " + e.getMessage());
    }
  }
}
