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
import java.util.HexFormat;
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

  /** Everything that determines a base model: teaching material, architecture, optimisation. */
  public record Spec(String env, int difficulty, int tasks, int plainCopies, double demonstrationRate,
      int nLayer, int nHead, int nEmbd, int blockSize, int batchSize, int steps, double lr,
      double minLr, int warmup, long seed) {
    public Spec {
      Verifiers.byName(env); // fails with the list of environments
      if (tasks < 1 || steps < 1 || nLayer < 1 || nHead < 1 || nEmbd % nHead != 0) {
        throw new IllegalArgumentException("base model: tasks, steps, n_layer, n_head must be >= 1 "
            + "and n_embd a multiple of n_head, got " + this);
      }
    }

    public ObjectNode toJson() {
      ObjectNode n = new ObjectMapper().createObjectNode();
      n.put("env", env);
      n.put("difficulty", difficulty);
      n.put("tasks", tasks);
      n.put("plain_copies", plainCopies);
      n.put("demonstration_rate", demonstrationRate);
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
      return n;
    }

    /** First 12 hex digits of the SHA-256 of the settings' JSON. */
    public String hash() {
      try {
        byte[] d = MessageDigest.getInstance("SHA-256")
            .digest(toJson().toString().getBytes(StandardCharsets.UTF_8));
        return HexFormat.of().formatHex(d).substring(0, 12);
      } catch (NoSuchAlgorithmException e) {
        throw new IllegalStateException(e);
      }
    }
  }

  /** The cache directory of a spec under {@code root}. */
  public static Path dir(Spec s, Path root) {
    return root.resolve("base-" + s.env() + "-" + s.hash());
  }

  /**
   * The checkpoint directory of the spec, pre-training it first unless the cache has it.
   *
   * @param log progress messages (cache hit, corpus size)
   * @param listener every pre-training step
   */
  public static Path ensure(Spec s, Path root, Consumer<String> log, Pretrainer.Listener listener)
      throws IOException {
    Path dir = dir(s, root);
    if (Files.exists(dir.resolve(INFO))) {
      log.accept("base model: reusing " + dir + " (same settings)");
      return dir;
    }
    Path partial = dir.resolveSibling(dir.getFileName() + ".partial");
    boolean resume = Files.exists(partial.resolve(Pretrainer.STATE));
    Files.createDirectories(partial);
    Path corpus = partial.resolve("corpus.jsonl");
    Environment env = Verifiers.byName(s.env()).withFeedback(FeedbackLevel.FULL);
    var docs = TeachingCorpus.documents(env, s.tasks(), s.seed(), Reprompt.Templates.reference(),
        new TeachingCorpus.Mix(s.difficulty(), s.plainCopies(), true, s.demonstrationRate()));
    // shuffled so that a window mixes plain and teacher-context documents
    java.util.Collections.shuffle(docs, new java.util.Random(s.seed()));
    Files.write(corpus, TeachingCorpus.jsonl(docs), StandardCharsets.UTF_8);
    log.accept("base model: " + (resume ? "resuming" : "pre-training") + " in " + partial + " on "
        + docs.size() + " teaching documents from " + s.tasks() + " " + s.env() + " tasks");
    long t0 = System.nanoTime();
    Pretrainer.Metrics last = Pretrainer.run(new Pretrainer.Config(corpus, partial, s.nLayer(),
        s.nHead(), s.nEmbd(), s.blockSize(), s.batchSize(), s.steps(), s.lr(), s.minLr(), s.warmup(),
        0.1, 1.0, 1, s.seed(), Math.max(1, s.steps() / 4)), CharTokenizer.ascii(), resume, listener);
    ObjectNode info = s.toJson();
    info.put("final_loss", last.loss());
    info.put("seconds", (System.nanoTime() - t0) / 1e9);
    info.put("documents", docs.size());
    Files.writeString(partial.resolve(INFO), info.toPrettyString());
    Files.move(partial, dir, StandardCopyOption.ATOMIC_MOVE);
    return dir;
  }
}
