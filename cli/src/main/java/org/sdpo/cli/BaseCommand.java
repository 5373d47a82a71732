package org.sdpo.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import me.tongfei.progressbar.ProgressBar;
import org.sdpo.core.BaseModels;
import org.sdpo.tensor.Backends;
import org.sdpo.verifiers.Verifiers;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code ./sdpo base}: builds (or finds in the cache) a named base model recipe, with the gap
 * probe's numbers as it trains.
 */
@Command(name = "base", mixinStandardHelpOptions = true,
    description = "Pre-train a named base model recipe (or find it in the cache: the directory is "
        + "named by a hash of the settings) and print where it is. The self-teacher gap probe's "
        + "numbers (student accuracy, teacher accuracy with feedback) show as it trains.")
final class BaseCommand implements Callable<Integer> {
  @Option(names = "--recipe", description = "One of: ${COMPLETION-CANDIDATES} (default: "
      + "${DEFAULT-VALUE}).", completionCandidates = Recipes.class)
  String recipe = "addition";
  @Option(names = "--seed", description = "Seed (default: ${DEFAULT-VALUE}).") long seed = 1;
  @Option(names = "--set", description = "Override a setting of the recipe, KEY=VALUE (repeatable;"
      + " keys as in base.json).") List<String> set;
  @Option(names = "--cache", description = "Cache directory (default: ${DEFAULT-VALUE}).")
  Path cache = Path.of("runs/cache");
  @Option(names = "--rebuild", description = "Delete the cached model of these settings first.")
  boolean rebuild;

  static final class Recipes implements Iterable<String> {
    @Override
    public java.util.Iterator<String> iterator() {
      return BaseModels.RECIPES.iterator();
    }
  }

  @Override
  public Integer call() throws Exception {
    BaseModels.Spec spec = spec(recipe, seed, set);
    System.out.println("sdpo base: recipe " + recipe + ", seed " + seed);
    System.out.println("backend: " + Backends.describe());
    System.out.println("settings: " + spec.toJson());
    Path dir = BaseModels.dir(spec, cache);
    if (rebuild && Files.exists(dir)) {
      try (var paths = Files.walk(dir)) {
        paths.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
      }
    }
    Path out = build(spec, cache);
    System.out.println("base model: " + out);
    Path chart = Charts.probe(out);
    if (chart != null) {
      System.out.println("probe chart: " + Charts.shown(chart));
    }
    System.out.println(new ObjectMapper().readTree(out.resolve(BaseModels.INFO).toFile())
        .toPrettyString());
    return 0;
  }

  /** The recipe with {@code KEY=VALUE} overrides. */
  static BaseModels.Spec spec(String recipe, long seed, List<String> set) {
    Map<String, Object> over = new LinkedHashMap<>();
    for (String kv : set == null ? List.<String>of() : set) {
      int eq = kv.indexOf('=');
      if (eq < 1) {
        throw new IllegalArgumentException("--set expects KEY=VALUE, got '" + kv + "'");
      }
      String v = kv.substring(eq + 1);
      Object value = v;
      try {
        value = v.contains(".") || v.contains("e") ? (Object) Double.parseDouble(v)
            : (Object) Long.parseLong(v);
      } catch (NumberFormatException e) {
        // a string
      }
      over.put(kv.substring(0, eq), value);
    }
    return BaseModels.Spec.fromMap(over, BaseModels.recipe(recipe, seed));
  }

  /** Ensures the base model with a progress bar showing the loss and the probe. */
  static Path build(BaseModels.Spec spec, Path cache) throws java.io.IOException {
    String[] probe = {""};
    try (ProgressBar pb = Progress.bar("pretrain", spec.steps())) {
      return BaseModels.ensure(spec, cache, Verifiers.byName(spec.env()).responseBudget(),
          System.out::println, m -> {
            if (!m.probe().isEmpty()) {
              StringBuilder sb = new StringBuilder();
              m.probe().forEach((k, v) -> sb.append(String.format(Locale.ROOT, " %s %.2f",
                  k.replace("teacher_", "t_"), ((Number) v).doubleValue())));
              probe[0] = sb.toString();
            }
            pb.stepTo(m.step());
            pb.setExtraMessage(String.format(Locale.ROOT, "loss %.3f%s", m.loss(), probe[0]));
          });
    }
  }
}
