package org.sdpo.cli;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.sdpo.autograd.F;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.Backends;
import org.sdpo.tensor.DType;
import org.sdpo.tensor.MemoryStats;
import org.sdpo.tensor.Rng;
import org.sdpo.tensor.Workspace;
import org.sdpo.transformer.CausalLm;
import org.sdpo.transformer.Gpt;
import org.sdpo.transformer.GptConfig;
import org.sdpo.transformer.sample.Sampler;
import org.sdpo.transformer.tokenizer.CharTokenizer;
import org.sdpo.transformer.train.AdamW;
import org.sdpo.transformer.train.GradClip;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code ./sdpo bench model}: training-step time (forward, backward, clipping, AdamW) and
 * KV-cache sampling throughput of a small GPT-2 (the same configuration as tools/bench_torch_gpt.py
 * measures in PyTorch).
 */
@Command(name = "model", mixinStandardHelpOptions = true,
    description = "Training step time and sampling tokens/s of a small GPT-2.")
final class BenchModelCommand implements Callable<Integer> {
  @Option(names = "--vocab", description = "default: ${DEFAULT-VALUE}") int vocab = 64;
  @Option(names = "--ctx", description = "default: ${DEFAULT-VALUE}") int ctx = 64;
  @Option(names = "--n-embd", description = "default: ${DEFAULT-VALUE}") int nEmbd = 128;
  @Option(names = "--n-layer", description = "default: ${DEFAULT-VALUE}") int nLayer = 4;
  @Option(names = "--n-head", description = "default: ${DEFAULT-VALUE}") int nHead = 4;
  @Option(names = "--batch", description = "default: ${DEFAULT-VALUE}") int batch = 16;
  @Option(names = "--steps", description = "measured steps (default: ${DEFAULT-VALUE})") int steps = 20;
  @Option(names = "--warmup", description = "unmeasured steps (default: ${DEFAULT-VALUE})") int warmup = 10;

  @Override
  public Integer call() {
    GptConfig cfg = GptConfig.of(vocab, ctx, nEmbd, nLayer, nHead);
    CausalLm model = Gpt.init(cfg, DType.FLOAT32, new Rng(1));
    System.out.printf(Locale.ROOT, "sdpo bench model: vocab %d, ctx %d, n_embd %d, %d layers, %d heads,"
        + " batch %d, %d parameters, float32%n", vocab, ctx, nEmbd, nLayer, nHead, batch,
        cfg.parameterCount());
    System.out.println("backend: " + Backends.describe());
    Rng rng = new Rng(2);
    int T = ctx;
    int[] x = new int[batch * T];
    int[] y = new int[batch * T];
    for (int i = 0; i < x.length; i++) {
      x[i] = rng.nextInt(vocab);
      y[i] = rng.nextInt(vocab);
    }
    AdamW opt = new AdamW(model.namedParameters(), AdamW.Settings.gpt());
    Workspace ws = new Workspace();
    double[] times = new double[steps];
    long arrays = 0;
    for (int s = 0; s < warmup + steps; s++) {
      long a0 = MemoryStats.arrays();
      long t0 = System.nanoTime();
      try (Workspace.Scope scope = ws.enter()) {
        Variable loss = F.crossEntropy(F.reshape(model.forward(x, batch, T), batch * T, -1), y, -100);
        loss.backward();
        GradClip.clip(model.namedParameters().values(), 1.0);
        opt.step(1e-4);
        model.zeroGrad();
      }
      if (s >= warmup) {
        times[s - warmup] = (System.nanoTime() - t0) / 1e6;
        arrays += MemoryStats.arrays() - a0;
      }
    }
    java.util.Arrays.sort(times);
    double median = times[steps / 2];
    double flops = 6.0 * cfg.parameterCount() * batch * T
        + 12.0 * nLayer * batch * T * T * nEmbd; // matmuls: 6 N per token; attention: 12 L T^2 C
    System.out.printf(Locale.ROOT, "train step (fwd+bwd+clip+AdamW): median %.1f ms, min %.1f ms "
            + "over %d steps; %.0f tokens/s; %.1f GFLOP/s; %d tensor allocations per step%n",
        median, times[0], steps, batch * T / (median / 1e3), flops / (median / 1e3) / 1e9,
        arrays / steps);

    CharTokenizer tok = new CharTokenizer("abcdefghijklmnopqrstuvwxyz0123456789");
    if (tok.vocabSize() > vocab) {
      System.out.println("sampling skipped: vocab " + vocab + " is smaller than the tokenizer's");
      return 0;
    }
    CausalLm sm = Gpt.init(GptConfig.of(vocab, ctx, nEmbd, nLayer, nHead), DType.FLOAT32, new Rng(3));
    List<int[]> prompts = new ArrayList<>();
    for (int b = 0; b < batch; b++) {
      prompts.add(new int[] {4 + b % (tok.vocabSize() - 4)}); // any batch: ids stay in the vocabulary
    }
    int newTokens = ctx - 1;
    double best = Double.MAX_VALUE;
    for (int r = 0; r < 5; r++) {
      long t0 = System.nanoTime();
      Sampler.generate(sm, tok, prompts, Sampler.Settings.sample(1.0, newTokens, r));
      best = Math.min(best, (System.nanoTime() - t0) / 1e6);
    }
    System.out.printf(Locale.ROOT, "sampling %d prompts x %d new tokens (KV cache): best of 5 %.1f ms,"
        + " %.0f tokens/s%n", batch, newTokens, best, batch * newTokens / (best / 1e3));
    System.out.println("peak resident memory: "
        + MemoryStats.describe(MemoryStats.peakResidentBytes()) + " (heap -Xmx "
        + MemoryStats.describe(Runtime.getRuntime().maxMemory()) + ")");
    return 0;
  }
}
