package org.sdpo.core;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.sdpo.tensor.Tensor;
import org.sdpo.transformer.sample.Sampler;
import org.sdpo.transformer.tokenizer.Tokenizer;

/**
 * What the credit-assignment viewer ({@code ./sdpo explain}) shows for a step: for a sample of the
 * rollouts, the question, the attempt token by token with the student's and the teacher's
 * log-probability of each sampled token (their difference is the token's SDPO advantage) and their
 * top alternatives, the verdict and feedback, the teacher context and the group's rewards.
 */
public final class ViewerData {
  private ViewerData() {}

  /** The viewer's record of a step (JSON-ready maps), for at most {@code limit} rollouts. */
  public static Map<String, Object> of(int step, SdpoStep.Report r, Tokenizer tok, int limit) {
    Map<String, Object> out = new LinkedHashMap<>();
    out.put("step", step);
    List<Object> rollouts = new ArrayList<>();
    out.put("rollouts", rollouts);
    if (r.studentLogprobs() == null || r.teacherLogprobs() == null) {
      return out;
    }
    Tensor s = r.studentLogprobs();
    Tensor t = r.teacherLogprobs();
    int V = s.dim(1);
    double[] sl = s.toDoubleArray();
    double[] tl = t.toDoubleArray();
    int row = 0;
    for (int i = 0; i < r.samples().size(); i++) {
      Sampler.Sample x = r.samples().get(i);
      int n = x.tokens().length;
      if (n == 0) {
        continue;
      }
      if (rollouts.size() < limit) {
        Map<String, Object> ro = new LinkedHashMap<>();
        Reprompt.Attempt a = r.attempts().get(i);
        ro.put("group", a.group());
        ro.put("question", a.prompt());
        ro.put("reward", a.reward());
        ro.put("success", r.verdicts().get(i).success());
        ro.put("kind", r.verdicts().get(i).kind());
        ro.put("feedback", a.feedback());
        ro.put("teacher_context", r.contexts().get(i).text());
        ro.put("distilled", r.contexts().get(i).masked());
        List<Double> groupRewards = new ArrayList<>();
        for (Reprompt.Attempt b : r.attempts()) {
          if (b.group() == a.group()) {
            groupRewards.add(b.reward());
          }
        }
        ro.put("group_rewards", groupRewards);
        List<Object> tokens = new ArrayList<>();
        for (int k = 0; k < n; k++) {
          int id = x.tokens()[k];
          int o = (row + k) * V;
          Map<String, Object> tk = new LinkedHashMap<>();
          tk.put("text", tok.decode(new int[] {id}, false));
          tk.put("student", sl[o + id]);
          tk.put("teacher", tl[o + id]);
          tk.put("student_top", top(sl, o, V, tok));
          tk.put("teacher_top", top(tl, o, V, tok));
          tokens.add(tk);
        }
        ro.put("tokens", tokens);
        rollouts.add(ro);
      }
      row += n;
    }
    return out;
  }

  private static List<Object> top(double[] lp, int o, int V, Tokenizer tok) {
    List<Object> best = new ArrayList<>();
    boolean[] used = new boolean[V];
    for (int r = 0; r < Math.min(3, V); r++) {
      int b = -1;
      for (int j = 0; j < V; j++) {
        if (!used[j] && (b < 0 || lp[o + j] > lp[o + b])) {
          b = j;
        }
      }
      used[b] = true;
      best.add(List.of(tok.decode(new int[] {b}, false), lp[o + b]));
    }
    return best;
  }
}
