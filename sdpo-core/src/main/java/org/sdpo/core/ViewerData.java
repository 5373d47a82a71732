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
    // the rows of the rollouts shown: the first `limit` with tokens whose rows the report holds
    // (all of them, or an update in chunks' first chunk), rows in sample order
    int held = Math.min(r.studentLogprobs().dim(0), r.teacherLogprobs().dim(0));
    int rows = 0;
    int shown = 0;
    List<Integer> ids = new ArrayList<>();
    for (Sampler.Sample x : r.samples()) {
      if (x.tokens().length > 0 && shown < limit && rows + x.tokens().length <= held) {
        shown++;
        rows += x.tokens().length;
        for (int id : x.tokens()) {
          ids.add(id);
        }
      } else if (x.tokens().length > 0) {
        break;
      }
    }
    if (rows == 0) {
      return out;
    }
    // only those rows' sampled and top-3 log-probabilities come to the host, not (N, V) twice
    Rows sl = Rows.of(r.studentLogprobs().slice(0, 0, rows), ids);
    Rows tl = Rows.of(r.teacherLogprobs().slice(0, 0, rows), ids);
    int row = 0;
    for (int i = 0; i < r.samples().size(); i++) {
      Sampler.Sample x = r.samples().get(i);
      int n = x.tokens().length;
      if (n == 0) {
        continue;
      }
      if (rollouts.size() < shown) {
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
          Map<String, Object> tk = new LinkedHashMap<>();
          tk.put("text", tok.tokenText(id));
          tk.put("student", sl.sampled()[row + k]);
          tk.put("teacher", tl.sampled()[row + k]);
          tk.put("student_top", sl.top(row + k, tok));
          tk.put("teacher_top", tl.top(row + k, tok));
          tokens.add(tk);
        }
        ro.put("tokens", tokens);
        rollouts.add(ro);
      }
      row += n;
    }
    return out;
  }

  /**
   * Log-probabilities of some rows (R, V) read back: each row's sampled token's (R), and its K = 3
   * (at most V) most likely tokens, most likely first (equal ones by id), and theirs (R*K).
   */
  private record Rows(double[] sampled, int[] topIds, double[] topLogprobs, int K) {
    static Rows of(Tensor lp, List<Integer> tokens) {
      int K = Math.min(3, lp.dim(1));
      org.sdpo.tensor.Indices top = lp.topK(K);
      return new Rows(lp.pick(tokens.stream().mapToInt(Integer::intValue).toArray())
          .toDoubleArray(), top.values(), lp.pick(top, K).toDoubleArray(), K);
    }

    List<Object> top(int row, Tokenizer tok) {
      List<Object> best = new ArrayList<>();
      for (int k = 0; k < K; k++) {
        int at = row * K + k;
        best.add(List.of(tok.tokenText(topIds[at]), topLogprobs[at]));
      }
      return best;
    }
  }
}
