package org.sdpo.transformer.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.sdpo.autograd.F;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.DType;
import org.sdpo.tensor.Rng;
import org.sdpo.tensor.Tensor;
import org.sdpo.tensor.Workspace;
import org.sdpo.transformer.Gpt;
import org.sdpo.transformer.GptConfig;
import org.sdpo.transformer.io.Checkpoint;
import org.sdpo.transformer.io.Safetensors;
import org.sdpo.transformer.tokenizer.Tokenizer;

/**
 * Pre-training from scratch on a text corpus: next-token cross-entropy on random windows of the
 * token stream, AdamW with warm-up and cosine decay, global-norm clipping, gradient accumulation.
 *
 * <p>Deterministic: the windows of step s come from a generator seeded with (seed, s), so a run
 * resumed from a checkpoint (model, optimizer moments and step in {@code trainer_state.safetensors})
 * continues bit for bit as if it had never stopped (on the CPU, same thread count).
 */
public final class Pretrainer {
  public static final String STATE = "trainer_state.safetensors";
  public static final String METRICS = "metrics.jsonl";

  private Pretrainer() {}

  /** Everything a run needs. */
  public record Config(Path data, Path out, int nLayer, int nHead, int nEmbd, int blockSize,
      int batchSize, int steps, double lr, double minLr, int warmup, double weightDecay,
      double gradClip, int gradAccum, long seed, int saveEvery) {
    public Config {
      if (batchSize < 1 || blockSize < 2 || steps < 1 || gradAccum < 1 || saveEvery < 1) {
        throw new IllegalArgumentException("pretrain: batch_size, steps, grad_accum and save_every"
            + " must be >= 1 and block_size >= 2");
      }
    }

    /** As JSON, for the run directory and the banner. */
    public ObjectNode toJson() {
      ObjectNode n = new ObjectMapper().createObjectNode();
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
      return n;
    }
  }

  /** One step's numbers. */
  public record Metrics(int step, double loss, double lr, double gradNorm, boolean skipped,
      double tokensPerSecond, double seconds) {}

  /** Called after every step (progress bars, logs). */
  public interface Listener {
    void onStep(Metrics m);
  }

  /** Token stream of a .txt file (one document) or .jsonl file ({"text": ...} per line). */
  public static int[] tokenize(Path data, Tokenizer tok) throws IOException {
    List<String> docs = new ArrayList<>();
    if (data.toString().endsWith(".jsonl")) {
      ObjectMapper m = new ObjectMapper();
      List<String> lines = Files.readAllLines(data, StandardCharsets.UTF_8);
      for (int i = 0; i < lines.size(); i++) {
        if (lines.get(i).isBlank()) {
          continue;
        }
        JsonNode n;
        try {
          n = m.readTree(lines.get(i));
        } catch (IOException e) {
          throw new IllegalArgumentException(data + ", line " + (i + 1) + ": not JSON: "
              + e.getMessage());
        }
        if (n == null || !n.path("text").isTextual()) {
          throw new IllegalArgumentException(data + ", line " + (i + 1)
              + ": expected an object with a string \"text\"");
        }
        docs.add(n.get("text").asText());
      }
    } else {
      docs.add(Files.readString(data, StandardCharsets.UTF_8));
    }
    List<Integer> ids = new ArrayList<>();
    for (String d : docs) {
      for (int t : tok.encode(d)) {
        ids.add(t);
      }
      ids.add(tok.eos());
    }
    return ids.stream().mapToInt(Integer::intValue).toArray();
  }

  /** Trains (or resumes) and returns the last step's metrics. */
  public static Metrics run(Config c, Tokenizer tok, boolean resume, Listener listener)
      throws IOException {
    int[] stream = tokenize(c.data(), tok);
    int T = c.blockSize();
    if (stream.length < T + 2) {
      throw new IllegalArgumentException(c.data() + ": " + stream.length
          + " tokens, too few for block_size " + T);
    }
    Gpt model;
    int start = 0;
    AdamW opt;
    AdamW.Settings settings = new AdamW.Settings(0.9, 0.95, 1e-8, c.weightDecay());
    if (resume) {
      model = Checkpoint.load(c.out(), DType.FLOAT32);
      opt = new AdamW(model.namedParameters(), settings);
      Path statePath = c.out().resolve(STATE);
      Map<String, Tensor> state = Safetensors.read(statePath, DType.FLOAT32, n -> false);
      start = readStep(statePath);
      opt.loadState(state, start);
      MetricsLog.keepUpTo(c.out().resolve(METRICS), start);
    } else {
      GptConfig gc = new GptConfig(tok.vocabSize(), T, c.nEmbd(), c.nLayer(), c.nHead(), 1e-5);
      model = Gpt.init(gc, DType.FLOAT32, new Rng(c.seed()));
      opt = new AdamW(model.namedParameters(), settings);
      Files.createDirectories(c.out());
      Files.writeString(c.out().resolve("train_config.json"), c.toJson().toPrettyString());
      Files.deleteIfExists(c.out().resolve(METRICS));
    }
    LrSchedule schedule = new LrSchedule(c.lr(), c.minLr(), c.warmup(), c.steps());
    Workspace ws = new Workspace();
    int B = c.batchSize();
    Metrics last = null;
    long t0 = System.nanoTime();
    for (int step = start; step < c.steps(); step++) {
      long s0 = System.nanoTime();
      double lossSum = 0;
      double lr = schedule.at(step);
      double norm;
      try (Workspace.Scope scope = ws.enter()) {
        for (int a = 0; a < c.gradAccum(); a++) {
          Rng rng = new Rng(c.seed() * 1_000_003L + step * 1009L + a);
          int[] x = new int[B * T];
          int[] y = new int[B * T];
          for (int b = 0; b < B; b++) {
            int off = rng.nextInt(stream.length - T - 1);
            System.arraycopy(stream, off, x, b * T, T);
            System.arraycopy(stream, off + 1, y, b * T, T);
          }
          Variable loss = F.crossEntropy(F.reshape(model.forward(x, B, T), B * T, -1), y, -100);
          lossSum += loss.value().item();
          F.scale(loss, 1.0 / c.gradAccum()).backward();
        }
        norm = GradClip.clip(model.namedParameters().values(), c.gradClip());
        if (Double.isFinite(norm)) {
          opt.step(lr);
        }
        model.zeroGrad();
      }
      double sec = (System.nanoTime() - s0) / 1e9;
      last = new Metrics(step + 1, lossSum / c.gradAccum(), lr, norm, !Double.isFinite(norm),
          (double) B * T * c.gradAccum() / sec, (System.nanoTime() - t0) / 1e9);
      appendMetrics(c.out(), last);
      if (listener != null) {
        listener.onStep(last);
      }
      if ((step + 1) % c.saveEvery() == 0 || step + 1 == c.steps()) {
        save(model, tok, opt, c.out(), step + 1);
      }
    }
    return last;
  }

  private static void save(Gpt model, Tokenizer tok, AdamW opt, Path out, int step)
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


  private static void appendMetrics(Path out, Metrics m) throws IOException {
    Map<String, Object> j = new LinkedHashMap<>();
    j.put("step", m.step());
    j.put("loss", m.loss());
    j.put("lr", m.lr());
    j.put("grad_norm", Double.isFinite(m.gradNorm()) ? m.gradNorm() : null);
    j.put("skipped", m.skipped());
    j.put("tokens_per_s", m.tokensPerSecond());
    j.put("elapsed_s", m.seconds());
    MetricsLog.append(out.resolve(METRICS), j);
  }
}
