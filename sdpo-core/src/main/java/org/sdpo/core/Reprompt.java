package org.sdpo.core;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.sdpo.tensor.Rng;
import org.sdpo.transformer.tokenizer.Tokenizer;

/**
 * Builds the self-teacher's context for each attempt of a group (reference doc §3): the question,
 * one <em>other</em> successful attempt of the same group as a demonstration (picked uniformly at
 * random with the run's seed), and/or the attempt's own environment feedback, through three
 * templates. The attempt itself is never put in the context: the teacher scores its exact tokens
 * after the context.
 */
public final class Reprompt {
  private Reprompt() {}

  /**
   * The three templates, with placeholders {@code {prompt}}, {@code {solution}}, {@code {feedback}}
   * (in the reprompt template), {@code {successful_previous_attempt}} and {@code {feedback_raw}}.
   * Substitution is one literal pass: braces inside a question, solution or feedback survive.
   */
  public record Templates(String reprompt, String solution, String feedback) {
    /** The reference implementation's strings (its yaml variant: no trailing newlines). */
    public static Templates reference() {
      return new Templates("{prompt}{solution}{feedback}\n\nCorrectly solve the original question.",
          "\nCorrect solution:\n\n{successful_previous_attempt}",
          "\nThe following is feedback from your unsuccessful earlier attempt:\n\n{feedback_raw}");
    }

    /**
     * One-character markers for small models: {@code |S} before a demonstration, {@code |F}
     * before feedback, {@code |} before the response. {@code 0347+0589=} with the full hint
     * becomes {@code 0347+0589=|F63900|}: a context of a few characters instead of ~100, in which
     * the hint sits at a fixed distance from the answer. The paper found SDPO insensitive to the
     * template's wording.
     */
    public static Templates compact() {
      return new Templates("{prompt}{solution}{feedback}|", "|S{successful_previous_attempt}",
          "|F{feedback_raw}");
    }

    /** The names of the template sets. */
    public static final java.util.List<String> NAMES = java.util.List.of("reference", "compact");

    /** A template set by name: {@code reference} or {@code compact}. */
    public static Templates named(String name) {
      switch (name) {
        case "reference":
          return reference();
        case "compact":
          return compact();
        default:
          throw new IllegalArgumentException("unknown template set '" + name
              + "': expected reference or compact");
      }
    }
  }

  /** What to do when a teacher context is longer than the limit. */
  public enum Truncation {
    /** Shorten the demonstration and the feedback (from their ends), never the question or instruction. */
    CUT_CONTEXT,
    /** Fail with an error naming the attempt. */
    ERROR
  }

  /**
   * The reprompting flags of the reference implementation.
   *
   * @param includeFeedback use the environment's feedback ({@code include_environment_feedback})
   * @param feedbackOnlyWithoutSolution feedback only when no demonstration exists
   * @param dontRepromptOnSelfSuccess never use an attempt as its own demonstration (always true in
   *     the reference runs; false lets a lone success be its own demonstration, as the paper's
   *     Table 2 caption describes)
   * @param successThreshold an attempt succeeded if its reward is at least this
   * @param maxTeacherPromptTokens longest teacher context, in tokens (before the response)
   * @param removeThinking remove every {@code <think>...</think>} block from a demonstration
   *     (the reference's remove_thinking_from_demonstration)
   */
  public record Config(Templates templates, boolean includeFeedback,
      boolean feedbackOnlyWithoutSolution, boolean dontRepromptOnSelfSuccess,
      double successThreshold, int maxTeacherPromptTokens, Truncation truncation,
      boolean removeThinking) {
    public Config {
      if (maxTeacherPromptTokens < 1) {
        throw new IllegalArgumentException("max_reprompt_len must be >= 1, got "
            + maxTeacherPromptTokens);
      }
    }

    /** As above, demonstrations kept whole. */
    public Config(Templates templates, boolean includeFeedback,
        boolean feedbackOnlyWithoutSolution, boolean dontRepromptOnSelfSuccess,
        double successThreshold, int maxTeacherPromptTokens, Truncation truncation) {
      this(templates, includeFeedback, feedbackOnlyWithoutSolution, dontRepromptOnSelfSuccess,
          successThreshold, maxTeacherPromptTokens, truncation, false);
    }

    /** The rich-feedback defaults (§4): feedback on, only without a demonstration. */
    public static Config richFeedback(int maxTokens) {
      return new Config(Templates.reference(), true, true, true, 1.0, maxTokens,
          Truncation.CUT_CONTEXT);
    }

    /** The scalar-reward defaults (§3): successful siblings only. */
    public static Config siblingsOnly(int maxTokens) {
      return new Config(Templates.reference(), false, true, true, 1.0, maxTokens,
          Truncation.CUT_CONTEXT);
    }
  }

  /** One attempt: its group, the question, the response text, the reward and the feedback. */
  public record Attempt(int group, String prompt, String response, double reward, String feedback) {}

  /**
   * The teacher context of one attempt. {@code masked} is the self-distillation mask: false when
   * the attempt has neither a demonstration nor feedback (it then contributes no loss).
   */
  public record Context(String text, int demonstration, boolean usesFeedback, boolean masked) {
    public boolean hasDemonstration() {
      return demonstration >= 0;
    }
  }

  /** The contexts of a batch of attempts, and the reference's self-distillation metrics. */
  public record Result(List<Context> contexts, Map<String, Double> metrics) {}

  /** Fills a template's placeholders in one literal pass. */
  static String fill(String template, Map<String, String> values) {
    StringBuilder sb = new StringBuilder();
    int i = 0;
    while (i < template.length()) {
      char ch = template.charAt(i);
      if (ch == '{') {
        int close = template.indexOf('}', i);
        if (close > i) {
          String key = template.substring(i + 1, close);
          if (values.containsKey(key)) {
            sb.append(values.get(key));
            i = close + 1;
            continue;
          }
        }
      }
      sb.append(ch);
      i++;
    }
    return sb.toString();
  }

  /** Builds every attempt's teacher context. */
  public static Result build(List<Attempt> attempts, Config c, Rng rng, Tokenizer tok) {
    List<Context> out = new ArrayList<>();
    int withSolution = 0;
    int feedbackAvailable = 0;
    int feedbackUsed = 0;
    int successes = 0;
    java.util.Set<Integer> groups = new java.util.HashSet<>();
    java.util.Set<Integer> successGroups = new java.util.HashSet<>();
    for (int i = 0; i < attempts.size(); i++) {
      Attempt a = attempts.get(i);
      groups.add(a.group());
      boolean success = a.reward() >= c.successThreshold();
      if (success) {
        successes++;
        successGroups.add(a.group());
      }
      List<Integer> candidates = new ArrayList<>();
      for (int j = 0; j < attempts.size(); j++) {
        Attempt b = attempts.get(j);
        if (b.group() == a.group() && b.reward() >= c.successThreshold()
            && !(c.dontRepromptOnSelfSuccess() && j == i)) {
          candidates.add(j);
        }
      }
      int demo = candidates.isEmpty() ? -1 : candidates.get(rng.nextInt(candidates.size()));
      boolean hasFeedback = a.feedback() != null && !a.feedback().isEmpty();
      feedbackAvailable += hasFeedback ? 1 : 0;
      boolean useFeedback = c.includeFeedback() && hasFeedback
          && !(c.feedbackOnlyWithoutSolution() && demo >= 0);
      feedbackUsed += useFeedback ? 1 : 0;
      withSolution += demo >= 0 ? 1 : 0;
      String solution = demo >= 0 ? attempts.get(demo).response() : null;
      if (solution != null && c.removeThinking()) {
        solution = org.sdpo.transformer.tokenizer.ChatTemplate.removeThinking(solution);
      }
      String feedback = useFeedback ? a.feedback() : null;
      String text = context(a.prompt(), solution, feedback, c, tok, i);
      out.add(new Context(text, demo, useFeedback, demo >= 0 || useFeedback));
    }
    int n = Math.max(1, attempts.size());
    Map<String, Double> m = new java.util.LinkedHashMap<>();
    m.put("success_group_fraction", (double) successGroups.size() / Math.max(1, groups.size()));
    m.put("success_sample_fraction", (double) successes / n);
    m.put("feedback_available_fraction", (double) feedbackAvailable / n);
    m.put("feedback_used_fraction", (double) feedbackUsed / n);
    m.put("reprompt_sample_fraction",
        (double) out.stream().filter(Context::masked).count() / n);
    m.put("solution_sample_fraction", (double) withSolution / n);
    return new Result(out, m);
  }

  /**
   * The teacher context text; the demonstration and feedback are shortened (from their ends) when
   * the whole would exceed the token limit, never the question or the closing instruction.
   */
  static String context(String prompt, String solution, String feedback, Config c, Tokenizer tok,
      int index) {
    if (solution == null && feedback == null) {
      return prompt; // no teacher signal: the original prompt (masked out of the loss)
    }
    String sol = solution;
    String fb = feedback;
    while (true) {
      String text = assemble(prompt, sol, fb, c.templates());
      int len = tok.encodePrompt(text).length;
      if (len <= c.maxTeacherPromptTokens()) {
        return text;
      }
      if (c.truncation() == Truncation.ERROR) {
        throw new IllegalArgumentException("teacher context of attempt " + index + " has " + len
            + " tokens, more than max_reprompt_len " + c.maxTeacherPromptTokens());
      }
      int excess = len - c.maxTeacherPromptTokens();
      // cut the longer of the two inserted texts first, by at least the excess in characters
      if (fb != null && (sol == null || fb.length() >= sol.length()) && !fb.isEmpty()) {
        fb = fb.substring(0, Math.max(0, fb.length() - Math.max(1, excess)));
      } else if (sol != null && !sol.isEmpty()) {
        sol = sol.substring(0, Math.max(0, sol.length() - Math.max(1, excess)));
      } else {
        throw new IllegalArgumentException("teacher context of attempt " + index
            + ": the question and the instruction alone have " + len
            + " tokens, more than max_reprompt_len " + c.maxTeacherPromptTokens());
      }
    }
  }

  /** The teacher context from the question, an optional demonstration and optional feedback. */
  public static String assemble(String prompt, String solution, String feedback, Templates t) {
    String solutionSection = solution == null ? ""
        : fill(t.solution(), Map.of("successful_previous_attempt", solution));
    String feedbackSection = feedback == null ? ""
        : fill(t.feedback(), Map.of("feedback_raw", feedback));
    return fill(t.reprompt(), Map.of("prompt", prompt, "solution", solutionSection,
        "feedback", feedbackSection));
  }
}
