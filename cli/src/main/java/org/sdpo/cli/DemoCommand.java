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
 * {@code ./sdpo demo}: pre-train a small GPT until it reads feedback in its context (cached),
 * measure its self-teacher gap, train GRPO, SDPO and their blend from it with the same seed and
 * budget, and compare.
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
    description = "Pre-train a small model on reversed addition until its self-teacher reads the "
        + "feedback in its context (cached), measure that gap on held-out questions, then train "
        + "GRPO, SDPO and their blend from it with the same seed and budget of generations; prints "
        + "the comparison and writes a chart, metrics, checkpoints and the credit-assignment "
        + "viewer into the run directory.")
final class DemoCommand implements Callable<Integer> {
  @Option(names = "--out", description = "Run directory (default: ${DEFAULT-VALUE}).")
  Path out = Path.of("runs/demo");
  @Option(names = "--cache", description = "Where base models are cached by their settings "
      + "(default: ${DEFAULT-VALUE}).") Path cache = Path.of("runs/cache");
  @Option(names = "--seed", description = "Seed of everything (default: ${DEFAULT-VALUE}).")
  long seed = 1;
  @Option(names = "--micro", description = "A tiny configuration that runs in seconds (checks the "
      + "pipeline, learns nothing).") boolean micro;
  @Option(names = "--feedback", description = "Feedback level of the RL arms: full, partial, "
      + "unusable or none (default: ${DEFAULT-VALUE}).") String feedback = "full";
  @Option(names = "--steps", description = "RL steps per arm (default: 200; micro: 2).")
  Integer steps;
  @Option(names = "--group-size", description = "Attempts per question (default: 8; micro: 4).")
  Integer groupSize;
  @Option(names = "--questions-per-step", description = "Questions per RL step (default: 16; "
      + "micro: 2).") Integer questions;
  @Option(names = "--lr", description = "Learning rate of every arm (default: 2e-4).") Double lr;

  @Override
  public Integer call() throws Exception {
    Demo.Settings s = settings();
    System.out.println("sdpo demo: seed " + seed + (micro ? " (micro configuration)" : ""));
    System.out.println("backend: " + Backends.describe());
    System.out.println("base model: " + s.base().toJson());
    System.out.println("training (every arm): " + new ObjectMapper().writeValueAsString(s.train()));
    System.out.println("arms: " + new ObjectMapper().writeValueAsString(s.arms()));
    Demo.run(s, System.out);
    return 0;
  }

  Demo.Settings settings() {
    BaseModels.Spec base = BaseModels.recipe(micro ? "addition-micro" : "addition", seed);
    int n = or(steps, micro ? 2 : 200);
    Map<String, Object> t = new LinkedHashMap<>();
    t.put("env", "addition");
    t.put("feedback", feedback);
    t.put("templates", "compact");
    t.put("difficulty", 0);
    t.put("seed", seed);
    t.put("steps", n);
    t.put("questions_per_step", or(questions, micro ? 2 : 16));
    t.put("group_size", or(groupSize, micro ? 4 : 8));
    t.put("max_new_tokens", 6);
    t.put("max_reprompt_len", base.blockSize() - 6);
    t.put("temperature", 1.0);
    t.put("lr", lr != null ? lr : 2e-4);
    t.put("warmup", micro ? 0 : 10);
    // the student forgets how to read its context during RL (measured: a teacher that follows it,
    // EMA, loses the hint within ~100 steps); the frozen initial model keeps the gap
    t.put("teacher", "frozen");
    t.put("val_every", micro ? 1 : 20);
    t.put("val_tasks", micro ? 4 : 128);
    t.put("val_k", 2);
    t.put("val_temperature", 1.0);
    t.put("val_top_p", 1.0);
    t.put("val_teacher", true);
    t.put("save_every", n);
    t.put("viewer_samples", 8);
    Map<String, Map<String, Object>> arms = new LinkedHashMap<>();
    arms.put("grpo", Map.of("algorithm", "grpo"));
    arms.put("sdpo", Map.of("algorithm", "sdpo"));
    arms.put("blend", Map.of("algorithm", "blend_advantage", "lambda", 0.9));
    return new Demo.Settings(out, cache, base, micro ? 8 : 256, arms, t);
  }

  private static int or(Integer v, int d) {
    return v != null ? v : d;
  }
}
