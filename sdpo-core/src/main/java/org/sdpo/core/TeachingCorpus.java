package org.sdpo.core;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.sdpo.tensor.Rng;
import org.sdpo.verifiers.Environment;
import org.sdpo.verifiers.FeedbackLevel;
import org.sdpo.verifiers.Split;
import org.sdpo.verifiers.TeachingExample;
import org.sdpo.verifiers.Verdict;

/**
 * Pre-training documents that teach a small model the task format and how to use a teacher
 * context, written in exactly the strings the trainer will use. Each document is a context (what
 * the model is given) and the solution (what it should write):
 *
 * <ul>
 *   <li>the question, then its solution (what the student sees, then what it should write);
 *   <li>the question with the feedback of a plausible wrong attempt, at one or more feedback
 *       levels (the teacher's context with its own feedback), then the solution;
 *   <li>the question with a correct solution as the demonstration (the teacher's context with a
 *       successful sibling), then the solution.
 * </ul>
 *
 * In the stream layout a document is the context and the solution as one text; in the documents
 * layout the loss covers only the solution (a prompt/completion pair), so that the model never
 * learns to write a teacher template after a bare question.
 */
public final class TeachingCorpus {
  private TeachingCorpus() {}

  /** A context and the solution that follows it. */
  public record Doc(String prompt, String completion) {
    public String text() {
      return prompt + completion;
    }
  }

  /**
   * How the documents are mixed. In the stream layout plain question-then-solution documents must
   * dominate: a small model that sees more teacher contexts than plain questions starts writing
   * the feedback template after a bare question (measured on a 4-layer character model).
   *
   * @param difficulty only tasks of this difficulty (0: all)
   * @param plainCopies copies of the plain document per task
   * @param feedbackRates for each feedback level, the probability of adding the task's document
   *     with the feedback of its wrong attempt at that level (a rate above 1 adds that many copies
   *     on average)
   * @param demonstrationRate probability of adding the demonstration document of a task
   */
  public record Mix(int difficulty, int plainCopies, Map<FeedbackLevel, Double> feedbackRates,
      double demonstrationRate) {
    public Mix {
      feedbackRates = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(feedbackRates));
      if (difficulty < 0 || plainCopies < 0 || !(demonstrationRate >= 0 && demonstrationRate <= 1)
          || feedbackRates.values().stream().anyMatch(r -> !(r >= 0 && r <= 100))) {
        throw new IllegalArgumentException("teaching mix: difficulty and plain copies must be >= 0, "
            + "the demonstration rate in [0, 1] and feedback rates in [0, 100]");
      }
    }

    /** Full feedback for every task, or none. */
    public Mix(int difficulty, int plainCopies, boolean feedback, double demonstrationRate) {
      this(difficulty, plainCopies, feedback ? Map.of(FeedbackLevel.FULL, 1.0) : Map.of(),
          demonstrationRate);
    }

    /** One of each kind per task, a demonstration for half of them. */
    public static final Mix BALANCED = new Mix(0, 1, true, 0.5);

    /**
     * Feedback rates from text such as {@code full:1,partial:0.5} (empty: none); an unknown level
     * or a bad number is an error naming it.
     */
    public static Map<FeedbackLevel, Double> parseRates(String text) {
      Map<FeedbackLevel, Double> m = new LinkedHashMap<>();
      if (text == null || text.isBlank()) {
        return m;
      }
      for (String part : text.split(",")) {
        String[] kv = part.split(":");
        if (kv.length != 2) {
          throw new IllegalArgumentException("feedback rates: expected level:rate, got '"
              + part.trim() + "' in '" + text + "'");
        }
        try {
          m.put(FeedbackLevel.parse(kv[0]), Double.parseDouble(kv[1].trim()));
        } catch (NumberFormatException e) {
          throw new IllegalArgumentException("feedback rates: '" + kv[1].trim()
              + "' is not a number in '" + text + "'");
        }
      }
      return m;
    }

    /** The rates as text, the inverse of {@link #parseRates}. */
    public static String formatRates(Map<FeedbackLevel, Double> rates) {
      List<String> parts = new ArrayList<>();
      rates.forEach((l, r) -> parts.add(l.id() + ":" + String.format(Locale.ROOT, "%s", r)));
      return String.join(",", parts);
    }
  }

  /** Texts for {@code n} train tasks of the environment (about 3 per task). */
  public static List<String> documents(Environment env, int n, long seed,
      Reprompt.Templates templates) {
    return documents(env, n, seed, templates, Mix.BALANCED);
  }

  /** Texts (context and solution joined) for {@code n} train tasks, mixed as given. */
  public static List<String> documents(Environment env, int n, long seed,
      Reprompt.Templates templates, Mix mix) {
    return docs(env, n, seed, templates, mix).stream().map(Doc::text).toList();
  }

  /** Context/solution pairs for {@code n} train tasks (of the mix's difficulty), mixed as given. */
  public static List<Doc> docs(Environment env, int n, long seed, Reprompt.Templates templates,
      Mix mix) {
    Rng rng = new Rng(seed);
    List<Doc> docs = new ArrayList<>();
    Map<FeedbackLevel, Environment> graders = new LinkedHashMap<>();
    for (FeedbackLevel level : mix.feedbackRates().keySet()) {
      graders.put(level, env.withFeedback(level)); // fails for a level the environment lacks
    }
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
          docs.add(new Doc(q, answer));
        }
        for (Map.Entry<FeedbackLevel, Environment> g : graders.entrySet()) {
          double rate = mix.feedbackRates().get(g.getKey());
          double frac = rate - Math.floor(rate); // a whole rate draws no random number
          int copies = (int) Math.floor(rate) + (frac > 0 && rng.nextDouble() < frac ? 1 : 0);
          if (copies == 0) {
            continue;
          }
          Verdict v = g.getValue().verify(e.task(), e.wrongAttempt());
          if (v.feedback().isEmpty()) {
            continue;
          }
          for (int i = 0; i < copies; i++) {
            docs.add(new Doc(Reprompt.assemble(q, null, v.feedback(), templates), answer));
          }
        }
        if (rng.nextDouble() < mix.demonstrationRate()) {
          docs.add(new Doc(Reprompt.assemble(q, answer, null, templates), answer));
        }
      }
    }
    return docs;
  }

  /** Texts as JSONL lines ({"text": ...}) for {@code ./sdpo pretrain}. */
  public static List<String> jsonl(List<String> docs) {
    List<String> out = new ArrayList<>();
    for (String d : docs) {
      out.add(org.sdpo.verifiers.json.Json.write(Map.of("text", d)));
    }
    return out;
  }

  /** Pairs as JSONL lines ({"prompt": ..., "completion": ...}) for the documents layout. */
  public static List<String> pairsJsonl(List<Doc> docs) {
    List<String> out = new ArrayList<>();
    for (Doc d : docs) {
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("prompt", d.prompt());
      m.put("completion", d.completion());
      out.add(org.sdpo.verifiers.json.Json.write(m));
    }
    return out;
  }
}
