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

  /**
   * How the documents are mixed. Plain question-then-solution documents must dominate: a small
   * model that sees more teacher contexts than plain questions starts writing the feedback
   * template after a bare question (measured on a 4-layer character model).
   *
   * @param difficulty only tasks of this difficulty (0: all)
   * @param plainCopies copies of the plain document per task
   * @param feedback whether to add the feedback document of each task
   * @param demonstrationRate probability of adding the demonstration document of a task
   */
  public record Mix(int difficulty, int plainCopies, boolean feedback, double demonstrationRate) {
    public Mix {
      if (difficulty < 0 || plainCopies < 0 || !(demonstrationRate >= 0 && demonstrationRate <= 1)) {
        throw new IllegalArgumentException("teaching mix: difficulty and plain copies must be >= 0 "
            + "and the demonstration rate in [0, 1]");
      }
    }

    /** One of each kind per task, a demonstration for half of them. */
    public static final Mix BALANCED = new Mix(0, 1, true, 0.5);
  }

  /** Documents for {@code n} train tasks of the environment (about 3 per task). */
  public static List<String> documents(Environment env, int n, long seed,
      Reprompt.Templates templates) {
    return documents(env, n, seed, templates, Mix.BALANCED);
  }

  /** Documents for {@code n} train tasks (of the mix's difficulty), mixed as given. */
  public static List<String> documents(Environment env, int n, long seed,
      Reprompt.Templates templates, Mix mix) {
    Rng rng = new Rng(seed);
    List<String> docs = new ArrayList<>();
    int used = 0;
    // teaching() draws all difficulties; draw rounds until n tasks of the wanted one are in
    for (long round = 0; used < n; round++) {
      if (round > 1000) {
        throw new IllegalStateException(env.name() + ": no teaching examples of difficulty "
            + mix.difficulty());
      }
      for (TeachingExample e : env.teaching(Split.TRAIN, Math.max(64, n), seed + round * 7_919L)) {
        if (used == n) {
          break;
        }
        if (mix.difficulty() != 0 && e.task().difficulty() != mix.difficulty()) {
          continue;
        }
        used++;
        String q = e.task().prompt();
        String answer = e.solution();
        for (int i = 0; i < mix.plainCopies(); i++) {
          docs.add(q + answer);
        }
        String fb = e.verdict().feedback();
        if (mix.feedback() && !fb.isEmpty()) {
          docs.add(Reprompt.assemble(q, null, fb, templates) + answer);
        }
        if (rng.nextDouble() < mix.demonstrationRate()) {
          docs.add(Reprompt.assemble(q, answer, null, templates) + answer);
        }
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
