package org.sdpo.cli;

import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.sdpo.tensor.DType;
import org.sdpo.transformer.Audit;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code ./sdpo audit ...}: write what another framework can check, number for number. */
@Command(name = "audit", mixinStandardHelpOptions = true,
    description = "Write forward/backward results for comparison with another framework.",
    subcommands = {AuditCommand.Model.class, AuditCommand.Sdpo.class})
final class AuditCommand implements Runnable {
  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    spec.commandLine().usage(System.out);
  }

  /** The options both audits share: where to write, in which precision. */
  static final class Output {
    @Option(names = "--out", required = true, description = "Output .safetensors file.")
    Path out;

    @Option(names = "--dtype", description = "float32 or float64 (default: ${DEFAULT-VALUE}).")
    String dtype = "float32";
  }

  /** {@code ./sdpo audit model}. */
  @Command(name = "model", mixinStandardHelpOptions = true,
      description = "One forward and backward of a checkpoint on a batch file: logits, loss and "
          + "every parameter's gradient, as safetensors.")
  static final class Model implements Callable<Integer> {
    @Option(names = "--model", required = true, description = "Checkpoint directory (HF layout).")
    Path model;

    @Option(names = "--batch", required = true, description = "Batch JSON: input_ids, labels, "
        + "optional attention_mask and position_ids.")
    Path batch;

    @CommandLine.Mixin Output output;

    @Override
    public Integer call() throws Exception {
      DType d = DType.parse(output.dtype);
      double loss = Audit.run(model, batch, output.out, d);
      System.out.printf(Locale.ROOT, "audit: loss %.17g (%s); wrote logits, loss and gradients to %s%n",
          loss, d, output.out);
      return 0;
    }
  }

  /** {@code ./sdpo audit sdpo}. */
  @Command(name = "sdpo", mixinStandardHelpOptions = true,
      description = "Score one attempt with SDPO's loss: student and teacher log-probs, per-token "
          + "and mean loss, and every student gradient, as safetensors.")
  static final class Sdpo implements Callable<Integer> {
    @Option(names = "--model", required = true, description = "Student checkpoint directory.")
    Path model;

    @Option(names = "--teacher", description = "Teacher checkpoint (default: the student's "
        + "weights under stop-gradient).")
    Path teacher;

    @Option(names = "--case", required = true, description = "Case JSON: student_input_ids, "
        + "teacher_input_ids, response_length, loss {alpha, top_k, add_tail, mode, temperature}.")
    Path caseFile;

    @CommandLine.Mixin Output output;

    @Override
    public Integer call() throws Exception {
      DType d = DType.parse(output.dtype);
      double loss = org.sdpo.core.SdpoAudit.run(model, teacher, caseFile, output.out, d);
      System.out.printf(Locale.ROOT, "audit sdpo: loss %.17g (%s); wrote log-probs, token losses "
          + "and gradients to %s%n", loss, d, output.out);
      return 0;
    }
  }
}
