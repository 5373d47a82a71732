package org.sdpo.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import org.sdpo.cli.tutorial.T1Autograd;
import org.sdpo.cli.tutorial.T2GradCheck;
import org.sdpo.cli.tutorial.T3TrainGpt;
import org.sdpo.cli.tutorial.T4Sample;
import org.sdpo.cli.tutorial.T5Verifier;
import org.sdpo.cli.tutorial.T6SdpoStep;
import org.sdpo.tensor.DType;
import org.sdpo.transformer.io.Checkpoint;
import org.sdpo.transformer.tokenizer.Tokenizer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code ./sdpo tutorial N}: the runnable examples of docs/tutorial.md. */
@Command(name = "tutorial", mixinStandardHelpOptions = true,
    description = "Run example N of docs/tutorial.md: 1 autograd, 2 gradient check, 3 train a "
        + "character GPT, 4 sample from it, 5 grade attempts by hand, 6 one SDPO step stage by stage.")
final class TutorialCommand implements Callable<Integer> {
  @Parameters(index = "0", description = "Example number, 1 to 6.") int n;
  @Option(names = "--dir", description = "Where example 3 writes its model and 4 and 6 read it "
      + "(default: ${DEFAULT-VALUE}).") Path dir = Path.of("runs/tutorial");
  @Option(names = "--steps", description = "Example 3: training steps (default: ${DEFAULT-VALUE}).")
  int steps = 600;
  @Option(names = "--model", description = "Examples 4 and 6: another checkpoint directory "
      + "(for instance the demo's base model).") Path model;

  @Override
  public Integer call() throws Exception {
    switch (n) {
      case 1 -> T1Autograd.run(System.out);
      case 2 -> {
        return T2GradCheck.run(System.out) ? 0 : 1;
      }
      case 3 -> T3TrainGpt.run(System.out, dir, steps);
      case 4 -> T4Sample.run(System.out, trained());
      case 5 -> T5Verifier.run(System.out);
      case 6 -> {
        Path m = trained();
        // a base model of a recipe names its environment and templates in base.json
        com.fasterxml.jackson.databind.JsonNode info = GapCommand.baseInfo(m);
        String env = info.path("env").asText("code");
        T6SdpoStep.run(System.out, Checkpoint.load(m, DType.FLOAT32), Tokenizer.load(m), 4,
            org.sdpo.verifiers.Verifiers.byName(env).responseBudget(), env,
            org.sdpo.core.Reprompt.Templates.named(info.path("templates").asText("reference")));
      }
      default -> throw new IllegalArgumentException("there are examples 1 to 6, not " + n);
    }
    return 0;
  }

  private Path trained() {
    Path m = model != null ? model : dir.resolve("gpt");
    if (!Files.exists(m.resolve("model.safetensors"))) {
      throw new IllegalArgumentException(m + " has no model.safetensors: run './sdpo tutorial 3' "
          + "first (or give --model DIR)");
    }
    return m;
  }
}
