package org.sdpo.core;

import java.util.ArrayList;
import java.util.List;
import java.util.function.IntFunction;
import org.sdpo.transformer.CausalLm;
import org.sdpo.transformer.sample.Sampler;
import org.sdpo.transformer.tokenizer.Tokenizer;
import org.sdpo.verifiers.Environment;
import org.sdpo.verifiers.Task;
import org.sdpo.verifiers.Verdict;
import org.sdpo.verifiers.Verifiers;

/** Sample one attempt per prompt and grade it: the loop of validation and of the baselines. */
final class Rollouts {
  private Rollouts() {}

  /**
   * Verdicts of one sampled attempt per prompt ({@code tasks.get(i)} grades prompt i), sampled
   * {@code chunk} prompts at a time with the settings {@code settingsAt(offset of the chunk)}.
   */
  static List<Verdict> sampleAndVerify(CausalLm model, Tokenizer tok, Environment env,
      List<int[]> prompts, List<Task> tasks, int chunk, IntFunction<Sampler.Settings> settingsAt,
      int threads) {
    List<Verdict> out = new ArrayList<>();
    for (int s = 0; s < prompts.size(); s += chunk) {
      int e = Math.min(prompts.size(), s + chunk);
      List<Sampler.Sample> xs = Sampler.generate(model, tok, prompts.subList(s, e), settingsAt.apply(s));
      out.addAll(Verifiers.verifyAll(env, tasks.subList(s, e),
          xs.stream().map(Sampler.Sample::text).toList(), threads));
    }
    return out;
  }
}
