package org.sdpo.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import org.sdpo.core.BaseModels;
import org.sdpo.tensor.Backends;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code ./sdpo demo}: pre-train a small GPT on the code environment's teaching material, measure
 * its self-teacher advantage, train GRPO and SDPO from it with the same seed and budget, and compare.
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
    description = "Pre-train a small model on the code environment (cached), measure its "
        + "self-teacher advantage, then train GRPO and SDPO from it with the same seed and budget "
        + "of generations; prints the comparison and writes a chart, metrics, checkpoints and the "
        + "credit-assignment viewer into the run directory.")
final class DemoCommand implements Callable<Integer> {
  @Option(names = "--out", description = "Run directory (default: ${DEFAULT-VALUE}).")
  Path out = Path.of("runs/demo");
  @Option(names = "--cache", description = "Where base models are cached by their settings "
      + "(default: ${DEFAULT-VALUE}).") Path cache = Path.of("runs/cache");
  @Option(names = "--seed", description = "Seed of everything (default: ${DEFAULT-VALUE}).")
  long seed = 1;
  @Option(names = "--micro", description = "A tiny configuration that runs in seconds (checks the "
      + "pipeline, learns nothing).") boolean micro;
  @Option(names = "--pretrain-steps", description = "Pre-training steps (default: 600; micro: 30).")
  Integer pretrainSteps;
  @Option(names = "--steps", description = "RL steps per algorithm (default: 40; micro: 2).")
  Integer steps;
  @Option(names = "--group-size", description = "Attempts per question (default: 8; micro: 4).")
  Integer groupSize;
  @Option(names = "--questions-per-step", description = "Questions per RL step (default: 4; "
      + "micro: 2).") Integer questions;

  @Override
  public Integer call() throws Exception {
    Demo.Settings s = settings();
    System.out.println("sdpo demo: seed " + seed + (micro ? " (micro configuration)" : ""));
    System.out.println("backend: " + Backends.describe());
    System.out.println("base model: " + s.base().toJson());
    System.out.println("training (both arms): " + new ObjectMapper().writeValueAsString(s.train()));
    Demo.run(s, System.out);
    return 0;
  }

  Demo.Settings settings() {
    int block = micro ? 256 : 384;
    int maxNew = micro ? 24 : 40;
    BaseModels.Spec d = Demo.defaultBase(seed);
    BaseModels.Spec base = micro
        ? new BaseModels.Spec("code", 1, 60, 3, 1.0, 1, 2, 32, block, 4, or(pretrainSteps, 30),
            2e-3, 2e-4, 5, seed)
        : new BaseModels.Spec(d.env(), d.difficulty(), d.tasks(), d.plainCopies(),
            d.demonstrationRate(), d.nLayer(), d.nHead(), d.nEmbd(), d.blockSize(), d.batchSize(),
            or(pretrainSteps, d.steps()), d.lr(), d.minLr(), d.warmup(), seed);
    Map<String, Object> t = new LinkedHashMap<>();
    t.put("env", "code");
    t.put("feedback", "full");
    t.put("difficulty", 1);
    t.put("seed", seed);
    t.put("steps", or(steps, micro ? 2 : 40));
    t.put("questions_per_step", or(questions, micro ? 2 : 4));
    t.put("group_size", or(groupSize, micro ? 4 : 8));
    t.put("max_new_tokens", maxNew);
    t.put("lr", 1e-4);
    t.put("teacher", "ema");
    t.put("teacher_update_rate", 0.05);
    t.put("max_reprompt_len", block - maxNew);
    t.put("val_every", micro ? 1 : 8);
    t.put("val_tasks", micro ? 4 : 32);
    t.put("val_k", micro ? 2 : 4);
    t.put("save_every", or(steps, micro ? 2 : 40));
    t.put("viewer_samples", 8);
    return new Demo.Settings(out, cache, base, micro ? 4 : 32, micro ? 2 : 4, t);
  }

  private static int or(Integer v, int d) {
    return v != null ? v : d;
  }
}
