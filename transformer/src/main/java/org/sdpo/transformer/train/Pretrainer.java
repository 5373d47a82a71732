package org.sdpo.transformer.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.sdpo.tensor.Backends;
import org.sdpo.tensor.DType;
import org.sdpo.tensor.Rng;
import org.sdpo.tensor.Tensor;
import org.sdpo.tensor.Workspace;
import org.sdpo.transformer.CausalLm;
import org.sdpo.transformer.Gpt;
import org.sdpo.transformer.GptConfig;
import org.sdpo.transformer.io.AtomicFiles;
import org.sdpo.transformer.io.Checkpoint;
import org.sdpo.transformer.io.Safetensors;
import org.sdpo.transformer.io.TextFiles;
import org.sdpo.transformer.tokenizer.Tokenizer;

/**
 * Pre-training from scratch on a text corpus: next-token cross-entropy, AdamW with warm-up and
 * cosine decay, global-norm clipping, gradient accumulation. Two layouts of a batch:
 *
 * <ul>
 *   <li>{@link Layout#STREAM}: the documents joined into one token stream (an end-of-text token
 *       after each), rows are random windows of it (GPT-2's way);
 *   <li>{@link Layout#DOCUMENTS}: each row is one whole document starting at position 0, padded
 *       on the right to the longest document of the corpus, the loss masked on the padding. A
 *       document may be a {@code {"prompt": ..., "completion": ...}} pair, with the loss on the
 *       completion (and its end-of-text token) only. Every character of a fixed-format task then
 *       sits at a fixed absolute position, which makes both the skill and reading a hint
 *       positional lookups that a small model learns in minutes.
 * </ul>
 *
 * <p>Deterministic: the windows of step s come from a generator seeded with (seed, s), so a run
 * resumed from a checkpoint (model, optimizer moments and step in {@code trainer_state.safetensors})
 * continues bit for bit as if it had never stopped (on the CPU, same thread count).
 */
public final class Pretrainer {
  public static final String STATE = "trainer_state.safetensors";
  public static final String METRICS = "metrics.jsonl";
  private static final ObjectMapper JSON = new ObjectMapper();

  private Pretrainer() {}

  /** How documents become rows of a batch (see the class comment). */
  public enum Layout {
    STREAM,
    DOCUMENTS;

    public static Layout parse(String s) {
      try {
        return valueOf(s.trim().toUpperCase(java.util.Locale.ROOT));
      } catch (IllegalArgumentException | NullPointerException e) {
        throw new IllegalArgumentException("unknown layout '" + s + "': expected stream or documents");
      }
    }

    public String id() {
      return name().toLowerCase(java.util.Locale.ROOT);
    }
  }

  /** Everything a run needs. */
  public record Config(Path data, Path out, int nLayer, int nHead, int nEmbd, int blockSize,
      int batchSize, int steps, double lr, double minLr, int warmup, double weightDecay,
      double gradClip, int gradAccum, long seed, int saveEvery, Layout layout) {
    public Config {
      if (batchSize < 1 || blockSize < 2 || steps < 1 || gradAccum < 1 || saveEvery < 1) {
        throw new IllegalArgumentException("pretrain: batch_size, steps, grad_accum and save_every"
            + " must be >= 1 and block_size >= 2");
      }
      layout = layout == null ? Layout.STREAM : layout;
    }

    /** The stream layout. */
    public Config(Path data, Path out, int nLayer, int nHead, int nEmbd, int blockSize,
        int batchSize, int steps, double lr, double minLr, int warmup, double weightDecay,
        double gradClip, int gradAccum, long seed, int saveEvery) {
      this(data, out, nLayer, nHead, nEmbd, blockSize, batchSize, steps, lr, minLr, warmup,
          weightDecay, gradClip, gradAccum, seed, saveEvery, Layout.STREAM);
    }

    /** As JSON, for the run directory and the banner. */
    public ObjectNode toJson() {
      ObjectNode n = JSON.createObjectNode();
      n.put("data", data.toString());
      n.put("out", out.toString());
      n.put("n_layer", nLayer);
      n.put("n_head", nHead);
      n.put("n_embd", nEmbd);
      n.put("block_size", blockSize);
      n.put("batch_size", batchSize);
      n.put("steps", steps);
      n.put("lr", lr);
      n.put("min_lr", minLr);
      n.put("warmup", warmup);
      n.put("weight_decay", weightDecay);
      n.put("grad_clip", gradClip);
      n.put("grad_accum", gradAccum);
      n.put("seed", seed);
      n.put("save_every", saveEvery);
      n.put("layout", layout.id());
      return n;
    }
  }

  /**
   * One step's numbers; {@code probe} holds the probe's measurement at the steps it ran (else it
   * is empty), {@code stopped} whether the probe ended the run at this step.
   */
  public record Metrics(int step, double loss, double lr, double gradNorm, boolean skipped,
      double tokensPerSecond, double seconds, Map<String, Object> probe, boolean stopped) {
    public Metrics {
      probe = probe == null ? Map.of() : java.util.Collections.unmodifiableMap(
          new LinkedHashMap<>(probe));
    }
  }

  /** Called after every step (progress bars, logs). */
  public interface Listener {
    void onStep(Metrics m);
  }

  /**
   * A measurement of the model every {@link #every()} steps (and at the last step), written into
   * that step's line of {@code metrics.jsonl}: how well the model does its task, whether it reads
   * its context. It may end the run early ({@link #stop}); the checkpoint is then saved at that
   * step. A probe must be deterministic for a resumed run to stay bit for bit.
   */
  public interface Probe {
    int every();

    /** The measurement (flat keys and numbers) of the model after {@code step} steps. */
    Map<String, Object> measure(CausalLm model, int step);

    /** Whether to stop after this measurement. */
    default boolean stop(Map<String, Object> measurement) {
      return false;
    }
  }

  /** One document of the documents layout: its tokens, and the first token the loss covers. */
  public record Document(int[] ids, int lossFrom) {}

  /** Token stream of a .txt file (one document) or .jsonl file: the documents, each then EOS. */
  public static int[] tokenize(Path data, Tokenizer tok) throws IOException {
    List<Integer> ids = new ArrayList<>();
    for (Document d : documents(data, tok, Integer.MAX_VALUE)) {
      for (int t : d.ids()) {
        ids.add(t);
      }
    }
    return ids.stream().mapToInt(Integer::intValue).toArray();
  }

  /**
   * The documents of a corpus, each followed by the end-of-text token: a .txt file is one
   * document, a .jsonl file one per line, {@code {"text": ...}} (loss on every token) or
   * {@code {"prompt": ..., "completion": ...}} (loss on the completion and the end-of-text token).
   * A document longer than {@code maxTokens} is an error naming its line.
   */
  public static List<Document> documents(Path data, Tokenizer tok, int maxTokens)
      throws IOException {
    List<Document> docs = new ArrayList<>();
    if (!data.toString().endsWith(".jsonl")) {
      docs.add(document(tok, "", TextFiles.readString(data), data, 1,
          maxTokens));
      return docs;
    }
    List<String> lines = TextFiles.readLines(data);
    for (int i = 0; i < lines.size(); i++) {
      if (lines.get(i).isBlank()) {
        continue;
      }
      JsonNode n;
      try {
        n = JSON.readTree(lines.get(i));
      } catch (IOException e) {
        throw new IllegalArgumentException(data + ", line " + (i + 1) + ": not JSON: "
            + e.getMessage());
      }
      if (n != null && n.path("text").isTextual()) {
        docs.add(document(tok, "", n.get("text").asText(), data, i + 1, maxTokens));
      } else if (n != null && n.path("prompt").isTextual() && n.path("completion").isTextual()) {
        docs.add(document(tok, n.get("prompt").asText(), n.get("completion").asText(), data, i + 1,
            maxTokens));
      } else {
        throw new IllegalArgumentException(data + ", line " + (i + 1)
            + ": expected an object with a string \"text\", or strings \"prompt\" and "
            + "\"completion\"");
      }
    }
    return docs;
  }

  private static Document document(Tokenizer tok, String prompt, String completion, Path data,
      int line, int maxTokens) {
    int[] p = tok.encode(prompt);
    int[] c = tok.encode(completion);
    int[] ids = new int[p.length + c.length + 1];
    System.arraycopy(p, 0, ids, 0, p.length);
    System.arraycopy(c, 0, ids, p.length, c.length);
    ids[ids.length - 1] = tok.eos();
    if (ids.length > maxTokens) {
      throw new IllegalArgumentException(data + ", line " + line + ": a document of " + ids.length
          + " tokens (with its end-of-text token) does not fit block_size " + maxTokens
          + " in the documents layout");
    }
    return new Document(ids, Math.max(1, p.length));
  }

  /** The settings a resumed run may change: how far it goes, how often it saves, where things are. */
  public static final java.util.Set<String> RESUME_MAY_CHANGE = java.util.Set.of("steps",
      "save_every", "out", "data");

  /**
   * Checks that {@code c} may resume the run in its {@code out}: the settings it was started with
   * ({@code train_config.json}), apart from {@link #RESUME_MAY_CHANGE}.
   */
  public static void checkSameSettings(Config c) throws IOException {
    RunSettings.checkResume(c.out(), c.out().resolve("train_config.json"), c.toJson(),
        RESUME_MAY_CHANGE);
  }

  /** Trains (or resumes) and returns the last step's metrics. */
  public static Metrics run(Config c, Tokenizer tok, boolean resume, Listener listener)
      throws IOException {
    return run(c, tok, resume, listener, null);
  }

  /**
   * Trains (or resumes) with a probe (null: none) and returns the last step's metrics, which say
   * whether the probe stopped the run. A resumed run with no step left returns its last step's
   * line of {@code metrics.jsonl} as it was recorded.
   */
  public static Metrics run(Config c, Tokenizer tok, boolean resume, Listener listener,
      Probe probe) throws IOException {
    Batches batches = c.layout() == Layout.STREAM ? Batches.stream(tokenize(c.data(), tok), c)
        : Batches.documents(documents(c.data(), tok, c.blockSize()), tok.pad(), c);
    CausalLm model;
    int start = 0;
    AdamW opt;
    AdamW.Settings settings = new AdamW.Settings(0.9, 0.95, 1e-8, c.weightDecay());
    if (resume) {
      checkSameSettings(c);
      model = Checkpoint.load(c.out(), DType.FLOAT32);
      opt = new AdamW(model.namedParameters(), settings);
      Path statePath = c.out().resolve(STATE);
      Map<String, Tensor> state = Safetensors.read(statePath, DType.FLOAT32, n -> false);
      start = readStep(statePath);
      opt.loadState(state, start);
      MetricsLog.keepUpTo(c.out().resolve(METRICS), start);
      if (start >= c.steps()) {
        return recorded(c.out().resolve(METRICS), start);
      }
    } else {
      GptConfig gc = new GptConfig(tok.vocabSize(), c.blockSize(), c.nEmbd(), c.nLayer(), c.nHead(),
          1e-5);
      model = Gpt.init(gc, DType.FLOAT32, new Rng(c.seed()));
      opt = new AdamW(model.namedParameters(), settings);
      Files.createDirectories(c.out());
      Checkpoint.removeFiles(c.out()); // a run started again keeps no file of the checkpoint before
      AtomicFiles.writeString(c.out().resolve("train_config.json"), c.toJson().toPrettyString());
      Files.deleteIfExists(c.out().resolve(METRICS));
    }
    if (resume && probe != null && start > 0 && start % probe.every() == 0) {
      // a run interrupted after its probe chose this checkpoint must not train past it
      Map<String, Object> measured = probe.measure(model, start);
      if (probe.stop(measured)) {
        return new Metrics(start, Double.NaN, Double.NaN, Double.NaN, false, 0, 0, measured, true);
      }
    }
    LrSchedule schedule = new LrSchedule(c.lr(), c.minLr(), c.warmup(), c.steps());
    Workspace ws = Workspace.ofThisThread(); // shared with the probe's sampler
    int B = c.batchSize();
    Metrics last = null;
    long t0 = System.nanoTime();
    int T = batches.rowLength();
    int[][] x = new int[c.gradAccum()][B * T]; // each micro-batch's ids and targets, refilled
    int[][] y = new int[c.gradAccum()][B * T];
    // On a backend that records steps (a GPU), every step after the run's first is one replay of a
    // recorded update (RecordedUpdate) instead of a few hundred launches: the same arithmetic
    RecordedUpdate recorded = null;
    boolean recordingFailed = false;
    try {
      for (int step = start; step < c.steps(); step++) {
        long s0 = System.nanoTime();
        double lossSum = 0;
        double lr = schedule.at(step);
        double norm;
        for (int a = 0; a < c.gradAccum(); a++) {
          batches.fill(new Rng(c.seed() * 1_000_003L + step * 1009L + a), x[a], y[a]);
        }
        if (recorded != null) {
          RecordedUpdate.Result r = recorded.run(lr);
          lossSum = r.lossSum();
          norm = r.norm();
        } else {
          try (Workspace.Scope scope = ws.enter()) {
            for (Tensor loss : RecordedUpdate.accumulateGradients(model, x, y, B, T)) {
              lossSum += loss.item();
            }
            norm = GradClip.clip(model.namedParameters().values(), c.gradClip());
            if (Double.isFinite(norm)) {
              opt.step(lr);
            }
            model.zeroGrad();
          }
          if (Backends.current().canCaptureSteps() && step + 1 < c.steps()
              && RecordedUpdate.canRecord(model) && !recordingFailed) {
            try {
              recorded = new RecordedUpdate(Backends.current(), model, opt, x, y, B, T,
                  c.gradClip());
            } catch (RuntimeException e) {
              recordingFailed = true; // kernel by kernel, as on a backend that does not record
              System.err.println("pretrain: recording the update failed (" + e.getMessage()
                  + "); training kernel by kernel (SDPO_CUDA_GRAPHS=0 skips the attempt)");
            }
          }
        }
        double sec = (System.nanoTime() - s0) / 1e9;
        Map<String, Object> measured = null;
        boolean stop = false;
        if (probe != null && ((step + 1) % probe.every() == 0 || step + 1 == c.steps())) {
          // the probe's shapes and the training step's would otherwise sit in the pool together:
          // each phase starts from an empty pool (peak 1.08 -> 0.87 GB at the demo's settings)
          ws.releaseFree();
          measured = probe.measure(model, step + 1);
          ws.releaseFree();
          stop = probe.stop(measured);
        }
        last = new Metrics(step + 1, lossSum / c.gradAccum(), lr, norm, !Double.isFinite(norm),
            (double) B * batches.rowLength() * c.gradAccum() / sec, (System.nanoTime() - t0) / 1e9,
            measured, stop);
        appendMetrics(c.out(), last);
        if (listener != null) {
          listener.onStep(last);
        }
        if ((step + 1) % c.saveEvery() == 0 || step + 1 == c.steps() || stop) {
          save(model, tok, opt, c.out(), step + 1);
        }
        if (stop) {
          break;
        }
      }
    } finally {
      if (recorded != null) {
        recorded.close();
      }
    }
    ws.releaseFree(); // pre-training's shapes do not return
    return last;
  }

  /** Fills the rows of a batch: inputs x and targets y (-100: no loss), each (B, T) row-major. */
  private interface Batches {
    /** T, the length of every row. */
    int rowLength();

    void fill(Rng rng, int[] x, int[] y);

    /** Random windows of the token stream, targets shifted by one. */
    static Batches stream(int[] stream, Config c) {
      if (stream.length < c.blockSize() + 2) {
        throw new IllegalArgumentException(c.data() + ": " + stream.length
            + " tokens, too few for block_size " + c.blockSize());
      }
      return new Windows(stream, c.blockSize());
    }

    /** One document per row from position 0, padded to the longest document of the corpus. */
    static Batches documents(List<Document> docs, int pad, Config c) {
      if (docs.isEmpty()) {
        throw new IllegalArgumentException(c.data() + ": no documents");
      }
      return new Rows(docs, pad,
          Math.max(2, docs.stream().mapToInt(d -> d.ids().length).max().orElse(2)));
    }
  }

  /** The stream layout: each row a random window of the stream, its targets the next tokens. */
  private record Windows(int[] stream, int rowLength) implements Batches {
    @Override
    public void fill(Rng rng, int[] x, int[] y) {
      int t = rowLength;
      for (int b = 0; b < x.length / t; b++) {
        int off = rng.nextInt(stream.length - t - 1);
        System.arraycopy(stream, off, x, b * t, t);
        System.arraycopy(stream, off + 1, y, b * t, t);
      }
    }
  }

  /**
   * The documents layout: each row a random document from position 0, padding after it; the
   * targets of padding and of a prompt are -100.
   */
  private record Rows(List<Document> docs, int pad, int rowLength) implements Batches {
    @Override
    public void fill(Rng rng, int[] x, int[] y) {
      int t = rowLength;
      java.util.Arrays.fill(x, pad);
      java.util.Arrays.fill(y, -100);
      for (int b = 0; b < x.length / t; b++) {
        Document d = docs.get(rng.nextInt(docs.size()));
        int[] ids = d.ids();
        System.arraycopy(ids, 0, x, b * t, ids.length);
        // position i predicts token i + 1; the loss covers tokens lossFrom .. end
        for (int i = Math.max(0, d.lossFrom() - 1); i + 1 < ids.length; i++) {
          y[b * t + i] = ids[i + 1];
        }
      }
    }
  }

  private static void save(CausalLm model, Tokenizer tok, AdamW opt, Path out, int step)
      throws IOException {
    Checkpoint.save(model, tok, out, Map.of("step", Integer.toString(step)));
    Safetensors.write(out.resolve(STATE), opt.state(), Map.of("step", Integer.toString(step)));
  }

  /** The step a trainer state file was written at (its metadata). */
  public static int readStep(Path statePath) throws IOException {
    String step = Safetensors.metadata(statePath).get("step");
    if (step == null) {
      throw new IOException(statePath + ": no step in the metadata; cannot resume");
    }
    try {
      return Integer.parseInt(step);
    } catch (NumberFormatException e) {
      throw new IOException(statePath + ": step '" + step + "' in the metadata is not a number");
    }
  }


  /**
   * The metrics of {@code step} as {@link #appendMetrics} wrote them (its time figures as
   * recorded); NaN where the line is missing, as in a run whose log was removed.
   */
  static Metrics recorded(Path metrics, int step) throws IOException {
    JsonNode line = null;
    if (Files.exists(metrics)) {
      for (JsonNode j : TextFiles.readJsonLines(JSON, metrics)) {
        if (j.path("step").asInt() == step) {
          line = j;
        }
      }
    }
    if (line == null) {
      return new Metrics(step, Double.NaN, Double.NaN, Double.NaN, false, 0, 0, null, false);
    }
    Map<String, Object> probe = new LinkedHashMap<>();
    for (Map.Entry<String, JsonNode> e : line.properties()) {
      if (e.getKey().startsWith("probe_")) {
        probe.put(e.getKey().substring("probe_".length()),
            JSON.convertValue(e.getValue(), Object.class));
      }
    }
    JsonNode norm = line.path("grad_norm");
    return new Metrics(step, line.path("loss").asDouble(Double.NaN),
        line.path("lr").asDouble(Double.NaN), norm.isNumber() ? norm.asDouble() : Double.NaN,
        line.path("skipped").asBoolean(), line.path("tokens_per_s").asDouble(),
        line.path("elapsed_s").asDouble(), probe, line.path("stopped_by_probe").asBoolean());
  }

  private static void appendMetrics(Path out, Metrics m) throws IOException {
    Map<String, Object> j = new LinkedHashMap<>();
    j.put("step", m.step());
    j.put("loss", m.loss());
    j.put("lr", m.lr());
    j.put("grad_norm", Double.isFinite(m.gradNorm()) ? m.gradNorm() : null);
    j.put("skipped", m.skipped());
    j.put("tokens_per_s", m.tokensPerSecond());
    j.put("elapsed_s", m.seconds());
    m.probe().forEach((k, v) -> j.put("probe_" + k, v));
    if (m.stopped()) {
      j.put("stopped_by_probe", true);
    }
    MetricsLog.append(out.resolve(METRICS), j);
  }
}
