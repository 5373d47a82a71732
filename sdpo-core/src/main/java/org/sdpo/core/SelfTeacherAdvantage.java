package org.sdpo.core;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.sdpo.transformer.Gpt;
import org.sdpo.transformer.sample.Sampler;
import org.sdpo.transformer.tokenizer.Tokenizer;
import org.sdpo.verifiers.Environment;
import org.sdpo.verifiers.Task;
import org.sdpo.verifiers.Verdict;

/**
 * Measures the self-teacher advantage: the model's accuracy on held-out questions without a
 * teacher context, then on the same questions with the feedback of one of its own failed attempts
 * in the context, and with a correct solution as the demonstration. SDPO can only help if the
 * model is better with the context than without.
 */
public final class SelfTeacherAdvantage {
  private SelfTeacherAdvantage() {}

  /** Accuracies: plain, with feedback (on questions it first failed), with a demonstration. */
  public static Map<String, Double> measure(Gpt model, Tokenizer tok, Environment env,
      List<Task> tasks, int k, int maxNew, long seed, Reprompt.Templates templates, int threads) {
    int maxContext = model.config.nPositions() - maxNew;
    List<int[]> prompts = new ArrayList<>();
    List<Task> of = new ArrayList<>();
    for (Task t : tasks) {
      for (int i = 0; i < k; i++) {
        prompts.add(tok.encode(t.prompt()));
        of.add(t);
      }
    }
    List<Verdict> plain = run(model, tok, env, prompts, of, maxNew, seed, threads);
    // with the feedback of a failed attempt, and with a demonstration
    List<int[]> fbPrompts = new ArrayList<>();
    List<Task> fbOf = new ArrayList<>();
    List<int[]> demoPrompts = new ArrayList<>();
    for (int i = 0; i < of.size(); i++) {
      Task t = of.get(i);
      Verdict v = plain.get(i);
      if (!v.success() && !v.feedback().isEmpty()) {
        int[] p = tok.encode(Reprompt.assemble(t.prompt(), null, v.feedback(), templates));
        if (p.length <= maxContext) {
          fbPrompts.add(p);
          fbOf.add(t);
        }
      }
      int[] d = tok.encode(Reprompt.assemble(t.prompt(), t.reference(), null, templates));
      demoPrompts.add(d.length <= maxContext ? d : tok.encode(t.prompt()));
    }
    Map<String, Double> m = new LinkedHashMap<>();
    m.put("accuracy", accuracy(plain));
    m.put("accuracy_with_feedback", fbPrompts.isEmpty() ? Double.NaN
        : accuracy(run(model, tok, env, fbPrompts, fbOf, maxNew, seed + 1, threads)));
    m.put("feedback_cases", (double) fbPrompts.size());
    m.put("accuracy_with_demonstration",
        accuracy(run(model, tok, env, demoPrompts, of, maxNew, seed + 2, threads)));
    return m;
  }

  private static List<Verdict> run(Gpt model, Tokenizer tok, Environment env, List<int[]> prompts,
      List<Task> of, int maxNew, long seed, int threads) {
    return Rollouts.sampleAndVerify(model, tok, env, prompts, of, 32,
        s -> new Sampler.Settings(1.0, 0, 1.0, false, maxNew, List.of(), seed * 1009L + s), threads);
  }

  private static double accuracy(List<Verdict> v) {
    return v.isEmpty() ? Double.NaN : v.stream().filter(Verdict::success).count() / (double) v.size();
  }
}
