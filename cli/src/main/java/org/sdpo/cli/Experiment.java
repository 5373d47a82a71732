package org.sdpo.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.sdpo.core.BaseModels;
import org.sdpo.core.TrainConfig;

/**
 * An experiment file ({@code ./sdpo experiment --config FILE}): a base model (pre-trained and
 * cached, or a checkpoint directory), seeds, and either training arms ({@code kind: train}: each
 * arm is a set of {@code ./sdpo train} options over the shared ones, run once per seed) or a
 * test-time comparison ({@code kind: test_time}). With {@code gap_gain: true} a train experiment
 * also measures each arm's initial self-teacher gap on the base model and plots the final gain
 * against it.
 */
record Experiment(String name, String kind, Path out, Path cache, BaseModels.Spec base, Path model,
    List<Long> seeds, Map<String, Object> train, Map<String, Map<String, Object>> arms,
    Map<String, Object> testTime, boolean gapGain) {

  static Experiment read(Path file) throws IOException {
    ObjectMapper yaml = new ObjectMapper(new YAMLFactory());
    JsonNode n = org.sdpo.transformer.io.TextFiles.readTree(yaml, file, "YAML");
    if (n == null || !n.isObject()) {
      throw new IllegalArgumentException(file + ": expected a mapping");
    }
    for (var it = n.fieldNames(); it.hasNext(); ) {
      String k = it.next();
      if (!List.of("name", "description", "kind", "out", "cache", "base", "model", "seeds", "train",
          "arms", "test_time", "gap_gain").contains(k)) {
        throw new IllegalArgumentException(file + ": unknown key '" + k + "'");
      }
    }
    String name = n.path("name").asText(file.getFileName().toString().replaceAll("\\.ya?ml$", ""));
    String kind = n.path("kind").asText("train");
    if (!kind.equals("train") && !kind.equals("test_time")) {
      throw new IllegalArgumentException(file + ": kind must be train or test_time, got " + kind);
    }
    if (n.has("base") == n.has("model")) {
      throw new IllegalArgumentException(file + ": give exactly one of 'base' (pre-training "
          + "settings) and 'model' (a checkpoint directory)");
    }
    List<Long> seeds = new ArrayList<>();
    n.path("seeds").forEach(s -> seeds.add(s.isIntegralNumber() ? s.asLong() : null));
    if (!n.path("seeds").isArray() || seeds.isEmpty() || seeds.contains(null)) {
      throw new IllegalArgumentException(file + ": 'seeds' must list at least one seed, as "
          + "integers: seeds: [1, 2, 3]");
    }
    if (n.has("arms") && (!n.get("arms").isObject() || !allObjects(n.get("arms")))) {
      throw new IllegalArgumentException(file + ": 'arms' must map each arm's name to its "
          + "options: arms: {sdpo: {algorithm: sdpo}, grpo: {algorithm: grpo}}");
    }
    Map<String, Map<String, Object>> arms = new LinkedHashMap<>();
    n.path("arms").fields().forEachRemaining(e ->
        arms.put(e.getKey(), TrainConfig.scalars(e.getValue())));
    if (kind.equals("train") && arms.isEmpty()) {
      throw new IllegalArgumentException(file + ": a train experiment needs 'arms'");
    }
    Experiment x;
    try {
      x = new Experiment(name, kind, Path.of(n.path("out").asText("runs/experiments/" + name)),
          Path.of(n.path("cache").asText("runs/cache")),
          n.has("base") ? spec(TrainConfig.scalars(n.get("base"))) : null,
          n.has("model") ? Path.of(n.get("model").asText()) : null, seeds,
          TrainConfig.scalars(n.path("train")), arms, TrainConfig.scalars(n.path("test_time")),
          n.path("gap_gain").asBoolean(false));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(file + ": " + e.getMessage(), e);
    }
    x.check(file);
    return x;
  }

  private static boolean allObjects(JsonNode arms) {
    for (JsonNode a : arms) {
      if (!a.isObject()) {
        return false;
      }
    }
    return true;
  }

  /**
   * Every option of every arm (or of the test-time comparison) checked now, before a base model
   * is trained or any run starts: a mistake in the last arm must not wait hours to show.
   */
  private void check(Path file) {
    if (kind.equals("train")) {
      for (var arm : arms.entrySet()) {
        Map<String, Object> m = new LinkedHashMap<>(train);
        m.putAll(arm.getValue());
        m.put("model", "(the base model)"); // as the run will set them
        m.put("out", out.resolve(arm.getKey()).toString());
        m.put("seed", seeds.get(0));
        try {
          TrainConfig.of(m);
        } catch (IllegalArgumentException e) {
          throw new IllegalArgumentException(file + ": arm '" + arm.getKey() + "': "
              + e.getMessage(), e);
        }
      }
    } else {
      try {
        Map<String, Object> o = TestTimeExperiment.options(testTime);
        TestTimeExperiment.environment(o);
        TestTimeExperiment.settings(o);
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException(file + ": " + e.getMessage(), e);
      }
    }
  }

  /**
   * Pre-training settings over a named recipe ({@code recipe: key}; default: the demo's base
   * model); an unknown key is an error.
   */
  static BaseModels.Spec spec(Map<String, Object> m) {
    Map<String, Object> rest = new LinkedHashMap<>(m);
    Object recipe = rest.remove("recipe");
    return BaseModels.Spec.fromMap(rest, recipe == null ? Demo.defaultBase(1)
        : BaseModels.recipe(String.valueOf(recipe), 1));
  }

  static String str(Map<String, Object> m, String k) {
    return String.valueOf(m.get(k));
  }

  static int i(Map<String, Object> m, String k) {
    if (!(m.get(k) instanceof Number x)) {
      throw new IllegalArgumentException("'" + k + "' must be a number, got " + m.get(k));
    }
    return x.intValue();
  }

  static double d(Map<String, Object> m, String k) {
    if (!(m.get(k) instanceof Number x)) {
      throw new IllegalArgumentException("'" + k + "' must be a number, got " + m.get(k));
    }
    return x.doubleValue();
  }
}
