package org.sdpo.verifiers;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The grade of one attempt: a reward in [0, 1], whether it counts as a success, the feedback text
 * at the environment's feedback level (empty for a success or at level none), the kind of outcome
 * ({@code pass}, {@code wrong_answer}, {@code syntax_error}, ...) and structured details for logs
 * and plots.
 */
public record Verdict(double reward, boolean success, String feedback, String kind,
    Map<String, Object> details) {

  public Verdict {
    if (!(reward >= 0 && reward <= 1)) {
      throw new IllegalArgumentException("reward must be in [0, 1], got " + reward);
    }
    feedback = feedback == null ? "" : feedback;
    details = details == null ? Map.of()
        : java.util.Collections.unmodifiableMap(new LinkedHashMap<>(details));
  }

  public static Verdict pass(Map<String, Object> details) {
    return new Verdict(1.0, true, "", "pass", details);
  }

  public static Verdict fail(String kind, String feedback, Map<String, Object> details) {
    return new Verdict(0.0, false, feedback, kind, details);
  }

  /** As a JSON-like map. */
  public Map<String, Object> toMap() {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("reward", reward);
    m.put("success", success);
    m.put("kind", kind);
    m.put("feedback", feedback);
    m.put("details", details);
    return m;
  }
}
