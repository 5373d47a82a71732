package org.sdpo.core;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import org.sdpo.transformer.tokenizer.CharTokenizer;
import org.sdpo.transformer.train.Pretrainer;
import org.sdpo.verifiers.Environment;
import org.sdpo.verifiers.FeedbackLevel;
import org.sdpo.verifiers.Verifiers;

/**
 * Base models pre-trained from scratch on an environment's teaching material ({@link
 * TeachingCorpus}), cached by their settings: the directory name is a hash of the {@link Spec}, so
 * the same settings reuse the checkpoint and any change trains a new one. Training happens in a
 * {@code .partial} directory that is renamed when done; an interrupted run resumes from its last
 * checkpoint there.
 */
public final class BaseModels {
  /** Written next to the checkpoint: the spec and how the pre-training ended. */
  public static final String INFO = "base.json";

  private BaseModels() {}

  /**
   * Everything that determines a base model: teaching material, layout, architecture,
   * optimisation, and the checkpoint choice.
   *
   * @param feedbackDocs feedback documents per task by level, as text ({@code full:1,partial:1};
   *     see {@link TeachingCorpus.Mix#parseRates})
   * @param templates the teacher-context template set the documents are written in
   * @param layout {@code stream} (random windows of the joined documents) or {@code documents}
   *     (one document per row from position 0, loss on the solution only)
   * @param probeEvery run the self-teacher gap probe every this many steps (0: never)
   * @param stopAtStudent stop at the first probe where the student reaches this accuracy and the
   *     teacher reads its context ({@link GapProbe}; 0: train all steps)
   */
  public record Spec(String env, int difficulty, int tasks, int plainCopies, String feedbackDocs,
      double demonstrationRate, String templates, String layout, int nLayer, int nHead, int nEmbd,
      int blockSize, int batchSize, int steps, double lr, double minLr, int warmup, long seed,
      int probeEvery, double stopAtStudent) {
    public Spec {
      Environment e = Verifiers.byName(env); // fails with the list of environments
      if (tasks < 1 || steps < 1 || nLayer < 1 || nHead < 1 || nEmbd < 1 || nEmbd % nHead != 0
          || blockSize < 1 || batchSize < 1 || probeEvery < 0
          || !(stopAtStudent >= 0 && stopAtStudent <= 1)) {
        // the parameters, not this: a compact constructor's fields are not yet assigned
        throw new IllegalArgumentException(String.format(java.util.Locale.ROOT, "base model: tasks, "
            + "steps, n_layer, n_head, block_size, batch_size must be >= 1, n_embd a positive "
            + "multiple of n_head, probe_every >= 0 and stop_at_student in [0, 1]; got tasks %d, "
            + "steps %d, n_layer %d, n_head %d, n_embd %d, block_size %d, batch_size %d, "
            + "probe_every %d, stop_at_student %s", tasks, steps, nLayer, nHead, nEmbd, blockSize,
            batchSize, probeEvery, stopAtStudent));
      }
      if (stopAtStudent > 0 && probeEvery == 0) {
        throw new IllegalArgumentException("base model: stop_at_student needs probe_every > 0");
      }
      for (FeedbackLevel l : TeachingCorpus.Mix.parseRates(feedbackDocs).keySet()) {
        try {
          e.withFeedback(l);
        } catch (IllegalArgumentException x) {
          throw new IllegalArgumentException("base model: feedback_docs: " + x.getMessage());
        }
      }
      Reprompt.Templates.named(templates);
      Pretrainer.Layout.parse(layout);
    }

    /** The settings as JSON (its text is what the cache hash is taken of). */
    public ObjectNode toJson() {
      ObjectNode n = new ObjectMapper().createObjectNode();
      n.put("env", env);
      n.put("difficulty", difficulty);
      n.put("tasks", tasks);
      n.put("plain_copies", plainCopies);
      n.put("feedback_docs", feedbackDocs);
      n.put("demonstration_rate", demonstrationRate);
      n.put("templates", templates);
      n.put("layout", layout);
      n.put("n_layer", nLayer);
      n.put("n_head", nHead);
      n.put("n_embd", nEmbd);
      n.put("block_size", blockSize);
      n.put("batch_size", batchSize);
      n.put("steps", steps);
      n.put("lr", lr);
      n.put("min_lr", minLr);
      n.put("warmup", warmup);
      n.put("seed", seed);
      n.put("probe_every", probeEvery);
      n.put("stop_at_student", stopAtStudent);
      return n;
    }

    /**
     * A spec from a flat mapping over {@code defaults}; an unknown key or a value of the wrong
     * type is an error naming the key.
     */
    public static Spec fromMap(Map<String, Object> given, Spec defaults) {
      Map<String, Object> v = TrainConfig.scalars(defaults.toJson());
      for (Map.Entry<String, Object> e : given.entrySet()) {
        if (!v.containsKey(e.getKey())) {
          throw new IllegalArgumentException("base: unknown key '" + e.getKey() + "' (known: "
              + String.join(", ", v.keySet()) + ")");
        }
        v.put(e.getKey(), e.getValue());
      }
      return new Spec(text(v, "env"), i(v, "difficulty"), i(v, "tasks"), i(v, "plain_copies"),
          text(v, "feedback_docs"), d(v, "demonstration_rate"), text(v, "templates"),
          text(v, "layout"), i(v, "n_layer"), i(v, "n_head"), i(v, "n_embd"), i(v, "block_size"),
          i(v, "batch_size"), i(v, "steps"), d(v, "lr"), d(v, "min_lr"), i(v, "warmup"),
          (long) d(v, "seed"), i(v, "probe_every"), d(v, "stop_at_student"));
    }

    private static String text(Map<String, Object> m, String k) {
      return m.get(k) == null ? "" : String.valueOf(m.get(k));
    }

    private static int i(Map<String, Object> m, String k) {
      return (int) d(m, k);
    }

    private static double d(Map<String, Object> m, String k) {
      if (!(m.get(k) instanceof Number x)) {
        throw new IllegalArgumentException("base: '" + k + "' must be a number, got " + m.get(k));
      }
      return x.doubleValue();
    }

    /** First 12 hex digits of the SHA-256 of the settings' JSON (the corpus is not in it). */
    public String hash() {
      try {
        byte[] d = MessageDigest.getInstance("SHA-256")
            .digest(toJson().toString().getBytes(StandardCharsets.UTF_8));
        return HexFormat.of().formatHex(d).substring(0, 12);
      } catch (NoSuchAlgorithmException e) {
        throw new IllegalStateException(e);
      }
    }

    /** The teaching mix of this spec. */
    public TeachingCorpus.Mix mix() {
      return new TeachingCorpus.Mix(difficulty, plainCopies,
          TeachingCorpus.Mix.parseRates(feedbackDocs), demonstrationRate);
    }

    /**
     * The probe's measurement: 96 held-out questions (seed apart from the ones the demo and
     * experiments measure), one sampled attempt each at temperature 1, the teacher at partial
     * feedback (when offered) and at the most informative level.
     */
    public SelfTeacherGap.Settings probeSettings(int maxNewTokens, int threads) {
      Environment e = Verifiers.byName(env);
      List<FeedbackLevel> levels = new ArrayList<>();
      if (e.levels().contains(FeedbackLevel.PARTIAL)) {
        levels.add(FeedbackLevel.PARTIAL);
      }
      FeedbackLevel top = e.levels().get(e.levels().size() - 1);
      if (!levels.contains(top)) {
        levels.add(top);
      }
      return new SelfTeacherGap.Settings(96, 1, difficulty, maxNewTokens, 1.0, seed + 7_777,
          Reprompt.Templates.named(templates), levels, false, false, threads);
    }
  }

  /** The names of the built-in recipes. */
  public static final List<String> RECIPES = List.of("addition", "addition-micro", "key", "code");

  /**
   * A built-in recipe:
   *
   * <ul>
   *   <li>{@code addition}: the demo's base model. A 4-layer character GPT (n_embd 128) trained on
   *       reversed 4-digit addition in the documents layout with compact templates: per task one
   *       plain document, two with the full hint, one with the partial hint, one with a
   *       demonstration and, for half of the tasks, one with the unusable control ("too high"), so
   *       that the control is a context the model knows says nothing, not a context it has never
   *       seen (copy targets must outnumber plain documents, or the student learns to add before
   *       the teacher learns to read the hint). The gap probe runs every 25 steps and stops
   *       pre-training once the student answers 10% of held-out questions while the teacher, given
   *       the answer as feedback, reads it (>= 80% and >= 30 points above the student).
   *   <li>{@code addition-micro}: the same pipeline in seconds, for tests and CI (learns nothing).
   *   <li>{@code key}: the test-time claim's base model: the same architecture trained on hidden
   *       keys, two thirds of the documents with a Wordle-style mask of a guess in the context, so
   *       that the teacher copies the letters a mask reveals and avoids the ones it rules out (the
   *       student cannot know any key).
   *   <li>{@code code}: the earlier demo's model on the {@code code} environment (reference
   *       templates, stream layout), the hard case: it does not learn to read its context.
   * </ul>
   */
  public static Spec recipe(String name, long seed) {
    switch (name) {
      case "addition":
        return new Spec("addition", 0, 20_000, 1, "full:2,partial:1,unusable:0.5", 1.0, "compact",
            "documents", 4, 4, 128, 32, 128, 1500, 2e-3, 2e-4, 50, seed, 25, 0.10);
      case "addition-micro":
        return new Spec("addition", 0, 200, 2, "full:1,partial:1", 0.5, "compact", "documents",
            1, 2, 32, 32, 16, 20, 2e-3, 2e-4, 2, seed, 10, 0);
      case "key":
        return new Spec("key", 0, 40_000, 1, "full:2", 0.0, "compact", "documents", 4, 4, 128, 32,
            128, 1200, 2e-3, 2e-4, 50, seed, 0, 0);
      case "code":
        return new Spec("code", 1, 3000, 3, "full:1", 1.0, "reference", "stream", 4, 4, 128, 384, 8,
            600, 2e-3, 2e-4, 30, seed, 0, 0);
      default:
        throw new IllegalArgumentException("unknown recipe '" + name + "': expected one of "
            + String.join(", ", RECIPES));
    }
  }

  /**
   * The cache directory of a spec under {@code root}: named by the hash of the settings and of the
   * teaching corpus they produce, so that a change to an environment's tasks, feedback or
   * templates trains a new model instead of reusing a stale one.
   */
  public static Path dir(Spec s, Path root) {
    return dir(s, root, corpus(s));
  }

  private static Path dir(Spec s, Path root, List<String> corpus) {
    try {
      MessageDigest md = MessageDigest.getInstance("SHA-256");
      md.update(s.toJson().toString().getBytes(StandardCharsets.UTF_8));
      for (String line : corpus) {
        md.update(line.getBytes(StandardCharsets.UTF_8));
        md.update((byte) '\n');
      }
      return root.resolve("base-" + s.env() + "-" + HexFormat.of().formatHex(md.digest())
          .substring(0, 12));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  /** The corpus file's lines: the spec's teaching documents, shuffled, in its layout's format. */
  static List<String> corpus(Spec s) {
    Environment env = Verifiers.byName(s.env()).withFeedback(FeedbackLevel.FULL);
    List<TeachingCorpus.Doc> docs = new ArrayList<>(TeachingCorpus.docs(env, s.tasks(), s.seed(),
        Reprompt.Templates.named(s.templates()), s.mix()));
    // shuffled so that a window or a batch mixes plain and teacher-context documents
    java.util.Collections.shuffle(docs, new java.util.Random(s.seed()));
    return Pretrainer.Layout.parse(s.layout()) == Pretrainer.Layout.DOCUMENTS
        ? TeachingCorpus.pairsJsonl(docs)
        : TeachingCorpus.jsonl(docs.stream().map(TeachingCorpus.Doc::text).toList());
  }

  /**
   * The checkpoint directory of the spec, pre-training it first unless the cache has it.
   *
   * @param maxNewTokens the response budget the probe samples with
   * @param log progress messages (cache hit, corpus size, where the probe stopped)
   * @param listener every pre-training step
   */
  public static Path ensure(Spec s, Path root, int maxNewTokens, Consumer<String> log,
      Pretrainer.Listener listener) throws IOException {
    List<String> lines = corpus(s);
    Path dir = dir(s, root, lines);
    if (Files.exists(dir.resolve(INFO))) {
      log.accept("base model: reusing " + dir + " (same settings and teaching corpus)");
      return dir;
    }
    Path partial = dir.resolveSibling(dir.getFileName() + ".partial");
    boolean resume = Files.exists(partial.resolve(Pretrainer.STATE));
    Files.createDirectories(partial);
    Path corpus = partial.resolve("corpus.jsonl");
    Pretrainer.Layout layout = Pretrainer.Layout.parse(s.layout());
    Files.write(corpus, lines, StandardCharsets.UTF_8);
    log.accept("base model: " + (resume ? "resuming" : "pre-training") + " in " + partial + " on "
        + lines.size() + " teaching documents from " + s.tasks() + " " + s.env() + " tasks");
    CharTokenizer tok = CharTokenizer.ascii();
    GapProbe probe = s.probeEvery() == 0 ? null : new GapProbe(Verifiers.byName(s.env()), tok,
        s.probeSettings(maxNewTokens, Runtime.getRuntime().availableProcessors()), s.probeEvery(),
        s.stopAtStudent());
    long t0 = System.nanoTime();
    Pretrainer.Metrics last = Pretrainer.run(new Pretrainer.Config(corpus, partial, s.nLayer(),
        s.nHead(), s.nEmbd(), s.blockSize(), s.batchSize(), s.steps(), s.lr(), s.minLr(), s.warmup(),
        0.1, 1.0, 1, s.seed(), Math.max(1, s.steps() / 4), layout), tok, resume, listener, probe);
    ObjectNode info = s.toJson();
    info.put("final_loss", last.loss());
    info.put("steps_trained", last.step());
    info.put("stopped_by_probe", last.stopped());
    info.put("seconds", (System.nanoTime() - t0) / 1e9);
    info.put("documents", lines.size());
    if (!last.probe().isEmpty()) {
      info.set("probe", new ObjectMapper().valueToTree(new LinkedHashMap<>(last.probe())));
    }
    if (last.stopped()) {
      log.accept("base model: the probe stopped pre-training at step " + last.step() + " "
          + last.probe());
    }
    Files.writeString(partial.resolve(INFO), info.toPrettyString());
    Files.move(partial, dir, StandardCopyOption.ATOMIC_MOVE);
    return dir;
  }
}
