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
import org.sdpo.verifiers.external.Sandbox;
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

  @Option(names = "--timeout", description = "external: wall-clock seconds per attempt (default: "
      + "${DEFAULT-VALUE}).") double timeoutSeconds = 10;

  @Option(names = "--cpu-seconds", description = "external: CPU seconds per attempt, 0 for no "
      + "limit (default: ${DEFAULT-VALUE}).") int cpuSeconds = 10;

  @Option(names = "--memory-mib", description = "external: address space in MiB, 0 for no limit "
      + "(default: ${DEFAULT-VALUE}).") long memoryMib = 1024;

  @Option(names = "--max-processes", description = "external: processes, 0 for no limit (default: "
      + "${DEFAULT-VALUE}).") int maxProcesses = 64;

  @Option(names = "--max-file-mib", description = "external: largest file a grader may write, in "
      + "MiB, 0 for no limit (default: ${DEFAULT-VALUE}).") long maxFileMib = 64;

  @Option(names = "--max-output-kib", description = "external: standard output kept, in KiB "
      + "(default: ${DEFAULT-VALUE}).") int maxOutputKib = 1024;

  @Option(names = "--network", description = "external: let graders use the network (default: "
      + "off).") boolean network;

  @Option(names = "--sandbox", description = "external: auto, bwrap, unshare or process_tree "
      + "(default: ${DEFAULT-VALUE}: the strongest this machine allows).") String sandbox = "auto";

  /** The environment; {@code tasks} are needed by external only. */
  Environment build(List<Task> tasks) {
    Environment e;
    if (env.equals("external")) {
      if (command == null || command.isBlank()) {
        throw new IllegalArgumentException("--env external needs --command 'your grader'");
      }
      e = new ExternalEnvironment(List.of(command.trim().split("\\s+")), tasks,
          FeedbackLevel.FULL, limits(), Sandbox.Mechanism.parse("--sandbox", sandbox), null);
    } else {
      e = Verifiers.byName(env);
    }
    return feedback == null ? e : e.withFeedback(FeedbackLevel.parse(feedback));
  }

  /** The grader limits given on the command line. */
  Sandbox.Limits limits() {
    return Sandbox.Limits.of(timeoutSeconds, cpuSeconds, memoryMib, maxProcesses, maxFileMib,
        maxOutputKib, network);
  }

  static List<Task> readTasks(Path file) {
    try {
      return Verifiers.readTasks(file);
    } catch (java.nio.file.NoSuchFileException e) {
      throw new IllegalArgumentException("no such task file: " + file);
    } catch (IOException e) { // most messages name the file already
      String m = String.valueOf(e.getMessage());
      throw new IllegalArgumentException(m.startsWith(file + ":") ? m
          : "cannot read task file " + file + ": " + m);
    }
  }
}
