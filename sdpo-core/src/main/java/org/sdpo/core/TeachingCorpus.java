package org.sdpo.core;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.sdpo.tensor.Rng;
import org.sdpo.verifiers.Environment;
import org.sdpo.verifiers.Split;
import org.sdpo.verifiers.TeachingExample;

/**
 * Pre-training documents that teach a small model the task format and how to use a teacher
 * context, written in exactly the strings the trainer will use:
 *
 * <ul>
 *   <li>question, then its solution (what the student sees, then what it should write);
 *   <li>question + "feedback from your unsuccessful earlier attempt" (the real feedback of a
 *       plausible wrong attempt) + instruction, then the solution;
 *   <li>question + "Correct solution:" (a correct attempt) + instruction, then the solution.
 * </ul>
 *
 * Each document ends with the end-of-text marker the tokenizer appends between documents.
 */
public final class TeachingCorpus {
  private TeachingCorpus() {}

  /** Documents for {@code n} train tasks of the environment (about 3 per task). */
  public static List<String> documents(Environment env, int n, long seed,
      Reprompt.Templates templates) {
    Rng rng = new Rng(seed);
    List<String> docs = new ArrayList<>();
    for (TeachingExample e : env.teaching(Split.TRAIN, n, seed)) {
      String q = e.task().prompt();
      String answer = e.solution();
      docs.add(q + answer);
      String fb = e.verdict().feedback();
      if (!fb.isEmpty()) {
        docs.add(Reprompt.assemble(q, null, fb, templates) + answer);
      }
      if (rng.nextInt(2) == 0) {
        docs.add(Reprompt.assemble(q, answer, null, templates) + answer);
      }
    }
    return docs;
  }

  /** The documents as JSONL lines ({"text": ...}) for {@code ./sdpo pretrain}. */
  public static List<String> jsonl(List<String> docs) {
    List<String> out = new ArrayList<>();
    for (String d : docs) {
      out.add(org.sdpo.verifiers.json.Json.write(Map.of("text", d)));
    }
    return out;
  }
}
