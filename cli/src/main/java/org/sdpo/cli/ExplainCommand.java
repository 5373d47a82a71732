package org.sdpo.cli;

import java.nio.file.Path;
import java.util.concurrent.Callable;
import org.sdpo.core.Explain;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code ./sdpo explain --run DIR}: the credit-assignment viewer of a training run. */
@Command(name = "explain", mixinStandardHelpOptions = true,
    description = "Write a self-contained HTML page showing each response token coloured by its "
        + "SDPO advantage (teacher minus student log-probability).")
final class ExplainCommand implements Callable<Integer> {
  @Option(names = "--run", required = true, description = "Run directory of ./sdpo train.") Path run;
  @Option(names = "--step", description = "Step to show (default: the last kept).") Integer step;
  @Option(names = "--out", description = "Output HTML (default: RUN/explain_step_N.html).") Path out;

  @Override
  public Integer call() throws Exception {
    Path f = Explain.stepFile(run, step);
    Path target = out != null ? out
        : run.resolve(f.getFileName().toString().replace("step_", "explain_step_").replace(".json", ".html"));
    int n = Explain.write(f, target);
    System.out.println("wrote " + target + " (" + n + " tokens from " + f.getFileName() + ")");
    return 0;
  }
}
