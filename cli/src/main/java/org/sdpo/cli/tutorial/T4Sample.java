package org.sdpo.cli.tutorial;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;
import org.sdpo.tensor.DType;
import org.sdpo.transformer.CausalLm;
import org.sdpo.transformer.io.Checkpoint;
import org.sdpo.transformer.sample.Sampler;
import org.sdpo.transformer.tokenizer.Tokenizer;
import org.sdpo.verifiers.Environment;
import org.sdpo.verifiers.FeedbackLevel;
import org.sdpo.verifiers.Split;
import org.sdpo.verifiers.Task;
import org.sdpo.verifiers.Verdict;
import org.sdpo.verifiers.Verifiers;

/**
 * Tutorial 4: sampling from the model of tutorial 3. The sampler runs the prompt once, keeps the
 * keys and values of every layer in a cache, and then feeds one token per step; temperature
 * divides the logits, top-p keeps the smallest set of tokens whose probability reaches p.
 */
public final class T4Sample {
  private T4Sample() {}

  public static void run(PrintStream out, Path model) throws Exception {
    CausalLm gpt = Checkpoint.load(model, DType.FLOAT32);
    Tokenizer tok = Tokenizer.load(model);
    out.println("model: " + gpt.config() + " from " + model);
    Environment env = Verifiers.byName("code").withFeedback(FeedbackLevel.FULL);
    Task task = env.tasks(Split.TEST, 1, 11, 1).get(0); // a held-out question
    int[] prompt = tok.encode(task.prompt());
    out.println("== prompt (" + prompt.length + " tokens)\n" + task.prompt());

    // greedy: always the most likely token
    Sampler.Sample g = Sampler.generate(gpt, tok, List.of(prompt), Sampler.Settings.greedy(40))
        .get(0);
    out.println("== greedy (" + g.finishReason() + ")\n" + g.text());
    out.println("   verdict: " + describe(env.verify(task, g.text())));

    // four samples in one batch at temperature 1.0 and at 0.5 with top-p 0.9
    for (Sampler.Settings s : new Sampler.Settings[] {Sampler.Settings.sample(1.0, 40, 1),
        new Sampler.Settings(0.5, 0, 0.9, false, 40, List.of(), 1)}) {
      out.println("== temperature " + s.temperature() + ", top-p " + s.topP());
      List<Sampler.Sample> xs = Sampler.generate(gpt, tok, List.of(prompt, prompt, prompt, prompt), s);
      for (Sampler.Sample x : xs) {
        double lp = 0;
        for (double v : x.logprobs()) {
          lp += v;
        }
        out.printf("-- %d tokens, log-probability %.2f, %s%n%s%n", x.tokens().length, lp,
            describe(env.verify(task, x.text())), x.text());
      }
    }
    out.println("== reference\n" + task.reference());
  }

  private static String describe(Verdict v) {
    return v.success() ? "correct" : v.kind() + (v.feedback().isEmpty() ? ""
        : ": " + v.feedback().replace('\n', ' '));
  }
}
