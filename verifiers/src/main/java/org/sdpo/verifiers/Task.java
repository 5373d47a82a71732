package org.sdpo.verifiers;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * One problem: the text the model sees ({@code prompt}), a reference solution, and the data the
 * verifier needs (hidden tests, expected call, expected answer), as a JSON-like map so tasks can be
 * written to and read from JSONL files.
 */
public record Task(String id, String env, String prompt, String reference, int difficulty,
    Split split, Map<String, Object> data) {

  public Task {
    Objects.requireNonNull(id, "id");
    Objects.requireNonNull(env, "env");
    Objects.requireNonNull(prompt, "prompt");
    reference = reference == null ? "" : reference;
    data = data == null ? Map.of() : java.util.Collections.unmodifiableMap(new LinkedHashMap<>(data));
  }

  /** The task as a JSON-like map (one line of a task file). */
  public Map<String, Object> toMap() {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("id", id);
    m.put("env", env);
    m.put("prompt", prompt);
    m.put("reference", reference);
    m.put("difficulty", (long) difficulty);
    m.put("split", split.id());
    m.put("data", data);
    return m;
  }
}
