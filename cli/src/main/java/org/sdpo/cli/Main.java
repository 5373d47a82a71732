package org.sdpo.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code ./sdpo} command. */
@Command(
    name = "sdpo",
    mixinStandardHelpOptions = true,
    versionProvider = Main.Version.class,
    description = "Self-Distillation Policy Optimization on the JVM: tensors, autograd, GPT-2, "
        + "verifiers and the SDPO trainer.",
    subcommands = {DemoCommand.class, ExperimentCommand.class, BaseCommand.class, GapCommand.class, GradCheckCommand.class, PretrainCommand.class, TrainCommand.class,
        SampleCommand.class, InitCommand.class, ChatTemplateCommand.class,
        TokenizeCommand.class, AuditCommand.class, TttCommand.class, TasksCommand.class,
        VerifyCommand.class, ExplainCommand.class, ReportCommand.class, TutorialCommand.class,
        BenchCommand.class, CommandLine.HelpCommand.class})
public final class Main implements Runnable {
  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  /** {@code --device}, accepted before or after the command's name. */
  @CommandLine.Option(names = "--device", scope = CommandLine.ScopeType.INHERIT,
      paramLabel = "DEVICE", description = "Where tensors live: cpu (default), cuda (an NVIDIA GPU, "
          + "compute capability 7.5+; tensor-cuda/README.md) or cuda-fake (the CUDA backend on a "
          + "simulated device in host memory, for testing). Also -Dsdpo.device or SDPO_DEVICE.")
  void device(String device) {
    System.setProperty(org.sdpo.tensor.Backends.DEVICE_PROPERTY, device);
  }

  @Override
  public void run() {
    spec.commandLine().usage(System.out);
  }

  public static void main(String[] args) {
    System.exit(run(args));
  }

  /** Runs the command line and returns the exit code (for tests). */
  public static int run(String... args) {
    CommandLine cli = new CommandLine(new Main());
    cli.setExecutionExceptionHandler((e, cmd, parsed) -> {
      String message = userError(e);
      if (message != null) {
        // "sdpo train", "sdpo bench sdpo": the whole command, nested ones too
        cmd.getErr().println(cmd.getCommandSpec().qualifiedName() + ": error: " + message);
        return 2;
      }
      throw e;
    });
    try {
      return cli.execute(args);
    } catch (OutOfMemoryError e) { // picocli passes errors on
      cli.getErr().println("sdpo: error: " + heapFull(e, Runtime.getRuntime().maxMemory()));
      return 2;
    }
  }

  /**
   * The Java heap is full (tensors live off it, so this is rare: a huge tokenizer or config):
   * the one line that says how to give it more; ./sdpo puts JAVA_OPTS after its own -Xmx2g.
   */
  static String heapFull(OutOfMemoryError e, long maxHeapBytes) {
    return "the Java heap is full (" + e.getMessage() + ", at most "
        + org.sdpo.tensor.MemoryStats.describe(maxHeapBytes) + "): give it more with "
        + "JAVA_OPTS=-Xmx8g (./sdpo sets -Xmx2g before JAVA_OPTS)";
  }

  /**
   * The one-line message of an error the user can fix (bad input, a missing or malformed file),
   * or null for a bug, which keeps its stack trace.
   */
  static String userError(Exception e) {
    String m;
    if (e instanceof java.nio.file.NoSuchFileException nf) {
      m = nf.getMessage().contains(" ") ? nf.getMessage() : "no such file: " + nf.getFile();
    } else if (e instanceof java.nio.file.AccessDeniedException ad) {
      m = "permission denied: " + ad.getFile();
    } else if (e instanceof org.sdpo.tensor.BackendOutOfMemoryException) {
      m = e.getMessage() + ". Less is needed with fewer or shorter sequences at once (train: "
          + "questions_per_step, group_size, max_new_tokens, mini_batches; logits_chunk_mb for the "
          + "update at a large vocabulary)"
          + (e instanceof org.sdpo.tensor.DeviceOutOfMemoryException
              ? " or, in bf16, a smaller cache of cast copies (SDPO_CUDA_CAST_CACHE_MB)" : "");
    } else if (e instanceof java.io.IOException io) { // a parser's message without its trailer
      m = org.sdpo.transformer.io.TextFiles.reason(io);
    } else if (e instanceof java.io.UncheckedIOException u) { // its own words, or its cause's
      m = u.getMessage() != null && !u.getMessage().equals(String.valueOf(u.getCause()))
          ? u.getMessage() : org.sdpo.transformer.io.TextFiles.reason(u.getCause());
    } else if (e instanceof IllegalArgumentException || e instanceof UnsupportedOperationException
        || e instanceof org.sdpo.tensor.DeviceUnavailableException) {
      m = e.getMessage();
    } else {
      return null;
    }
    return m == null ? e.getClass().getSimpleName() : m.replace('\n', ' ');
  }

  /** The project version from the jar manifest, or "dev". */
  static final class Version implements CommandLine.IVersionProvider {
    @Override
    public String[] getVersion() {
      String v = Main.class.getPackage().getImplementationVersion();
      return new String[] {"sdpo " + (v == null ? "dev" : v)};
    }
  }
}
