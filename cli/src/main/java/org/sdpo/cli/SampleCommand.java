package org.sdpo.cli;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.sdpo.tensor.DType;
import org.sdpo.transformer.CausalLm;
import org.sdpo.transformer.io.Checkpoint;
import org.sdpo.transformer.sample.Sampler;
import org.sdpo.transformer.tokenizer.ChatPrompts;
import org.sdpo.transformer.tokenizer.Tokenizer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code ./sdpo sample}: continuations of a prompt from a checkpoint. */
@Command(name = "sample", mixinStandardHelpOptions = true,
    description = "Sample continuations of a prompt with the KV-cache sampler (any checkpoint:"
        + " GPT-2, Llama, Qwen2, Qwen3).")
final class SampleCommand implements Callable<Integer> {
  @Option(names = "--model", required = true, description = "Checkpoint directory.") Path model;
  @Option(names = "--prompt", required = true, description = "Prompt text.") String prompt;
  @Option(names = "--n", description = "Samples (default: ${DEFAULT-VALUE}).") int n = 4;
  @Option(names = "--max-new", description = "default: ${DEFAULT-VALUE}") int maxNew = 64;
  @Option(names = "--temperature", description = "default: ${DEFAULT-VALUE}") double temperature = 0.8;
  @Option(names = "--top-k", description = "0 = off (default: ${DEFAULT-VALUE})") int topK = 0;
  @Option(names = "--top-p", description = "1 = off (default: ${DEFAULT-VALUE})") double topP = 1.0;
  @Option(names = "--greedy", description = "Always the most likely token.") boolean greedy;
  @Option(names = "--stop", description = "Stop strings (repeatable).") List<String> stop;
  @Option(names = "--seed", description = "default: ${DEFAULT-VALUE}") long seed = 1;
  @Option(names = "--chat", description = "Render the prompt as a user turn of the model's chat "
      + "template (with the assistant header after it).") boolean chat;

  @Override
  public Integer call() throws Exception {
    if (n < 1 || maxNew < 1) {
      throw new IllegalArgumentException("--n and --max-new must be at least 1, got " + n + " and "
          + maxNew);
    }
    CausalLm m = Checkpoint.load(model, DType.FLOAT32);
    Tokenizer tok = ChatPrompts.forModel(model, chat ? "true" : "false", false);
    int[] p = tok.encodePrompt(prompt);
    String shown = tok instanceof ChatPrompts c ? c.format(prompt) : prompt;
    List<int[]> prompts = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      prompts.add(p);
    }
    int budget = Math.min(maxNew, m.config().nPositions() - p.length);
    if (budget < 1) {
      throw new IllegalArgumentException("the prompt (" + p.length + " tokens) fills the context of "
          + m.config().nPositions());
    }
    Sampler.Settings s = new Sampler.Settings(temperature, topK, topP, greedy, budget, stop, seed);
    long t0 = System.nanoTime();
    List<Sampler.Sample> out = Sampler.generate(m, tok, prompts, s);
    double sec = (System.nanoTime() - t0) / 1e9;
    int total = 0;
    for (int i = 0; i < out.size(); i++) {
      Sampler.Sample x = out.get(i);
      total += x.tokens().length;
      double lp = 0;
      for (double l : x.logprobs()) {
        lp += l;
      }
      System.out.printf(Locale.ROOT, "--- sample %d (%d tokens, %s, log-prob %.2f)%n%s%s%n", i,
          x.tokens().length, x.finishReason(), lp, shown, x.text());
    }
    System.out.printf(Locale.ROOT, "%d tokens in %.2f s (%.0f tokens/s), seed %d%n", total, sec,
        total / sec, seed);
    return 0;
  }
}
