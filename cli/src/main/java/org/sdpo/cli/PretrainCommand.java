package org.sdpo.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import me.tongfei.progressbar.ProgressBar;
import org.sdpo.tensor.Backends;
import org.sdpo.transformer.io.TextFiles;
import org.sdpo.transformer.tokenizer.CharTokenizer;
import org.sdpo.transformer.tokenizer.Tokenizer;
import org.sdpo.transformer.train.Pretrainer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code ./sdpo pretrain}: trains a GPT-2-style model from scratch on a text or JSONL corpus. */
@Command(name = "pretrain", mixinStandardHelpOptions = true,
    description = "Train a GPT-2-style model from scratch on a .txt or .jsonl corpus.")
final class PretrainCommand implements Callable<Integer> {
  @Option(names = "--data", required = true, description = "Corpus: .txt, or .jsonl with "
      + "{\"text\": ...} or {\"prompt\": ..., \"completion\": ...} per line.")
  Path data;

  @Option(names = "--out", required = true, description = "Run directory (checkpoint, metrics.jsonl).")
  Path out;

  @Option(names = "--tokenizer", description = "char (printable ASCII) or a directory whose "
      + "tokenizer to use: tokenizer.json, GPT-2's vocab.json and merges.txt, or "
      + "char_tokenizer.json (default: ${DEFAULT-VALUE}).")
  String tokenizer = "char";

  @Option(names = "--n-layer", description = "default: ${DEFAULT-VALUE}") int nLayer = 4;
  @Option(names = "--n-head", description = "default: ${DEFAULT-VALUE}") int nHead = 4;
  @Option(names = "--n-embd", description = "default: ${DEFAULT-VALUE}") int nEmbd = 128;
  @Option(names = "--block-size", description = "context length T (default: ${DEFAULT-VALUE})")
  int blockSize = 64;
  @Option(names = "--batch-size", description = "default: ${DEFAULT-VALUE}") int batchSize = 16;
  @Option(names = "--steps", description = "default: ${DEFAULT-VALUE}") int steps = 500;
  @Option(names = "--lr", description = "peak learning rate (default: ${DEFAULT-VALUE})") double lr = 1e-3;
  @Option(names = "--min-lr", description = "default: ${DEFAULT-VALUE}") double minLr = 1e-4;
  @Option(names = "--warmup", description = "warm-up steps (default: ${DEFAULT-VALUE})") int warmup = 50;
  @Option(names = "--weight-decay", description = "default: ${DEFAULT-VALUE}") double weightDecay = 0.1;
  @Option(names = "--grad-clip", description = "global norm (default: ${DEFAULT-VALUE})") double gradClip = 1.0;
  @Option(names = "--grad-accum", description = "micro-batches per step (default: ${DEFAULT-VALUE})")
  int gradAccum = 1;
  @Option(names = "--seed", description = "default: ${DEFAULT-VALUE}") long seed = 1337;
  @Option(names = "--save-every", description = "checkpoint every N steps (default: ${DEFAULT-VALUE})")
  int saveEvery = 100;
  @Option(names = "--layout", description = "stream (random windows of the joined documents) or "
      + "documents (one document per row from position 0, the loss on completions only) "
      + "(default: ${DEFAULT-VALUE}).") String layout = "stream";
  @Option(names = "--probe-env", description = "Measure the self-teacher gap on this "
      + "environment's held-out questions every --probe-every steps (student accuracy, teacher "
      + "accuracy with feedback in the context) and log it to metrics.jsonl.") String probeEnv;
  @Option(names = "--probe-every", description = "default: ${DEFAULT-VALUE}") int probeEvery = 50;
  @Option(names = "--probe-templates", description = "Teacher-context templates of the probe: "
      + "reference or compact (default: ${DEFAULT-VALUE}).") String probeTemplates = "reference";
  @Option(names = "--resume", description = "Continue the run in --out from its last checkpoint.")
  boolean resume;

  @Option(names = "--overwrite", description = "Start again in an --out that already holds a run "
      + "or a checkpoint (replaced).")
  boolean overwrite;

  @Override
  public Integer call() throws Exception {
    if (resume && overwrite) {
      throw new IllegalArgumentException("--resume and --overwrite exclude each other");
    }
    if (resume) {
      RunDirectory.checkResumable(out, List.of(Pretrainer.STATE));
    } else {
      RunDirectory.checkNew(out, RunDirectory.PRETRAIN_RUN, overwrite, "a run or a checkpoint",
          "--resume continues a run, --overwrite starts again");
    }
    Tokenizer tok = tokenizer.equals("char") ? CharTokenizer.ascii()
        : Tokenizer.load(Path.of(tokenizer));
    Pretrainer.Config c = new Pretrainer.Config(data, out, nLayer, nHead, nEmbd, blockSize,
        batchSize, steps, lr, minLr, warmup, weightDecay, gradClip, gradAccum, seed, saveEvery,
        Pretrainer.Layout.parse(layout));
    if (resume) { // before anything is printed (Pretrainer.run checks the settings too)
      Pretrainer.checkSameSettings(c);
      if (RunDirectory.finished(out, Pretrainer.STATE, steps, "--steps above %d continues it")) {
        return 0; // once a NullPointerException
      }
    }
    System.out.println("sdpo pretrain: seed " + seed + (resume ? " (resuming)" : ""));
    System.out.println("backend: " + Backends.describe());
    System.out.println("config: " + c.toJson());
    Pretrainer.Probe probe = null;
    if (probeEnv != null) {
      org.sdpo.verifiers.Environment env = org.sdpo.verifiers.Verifiers.byName(probeEnv);
      java.util.List<org.sdpo.verifiers.FeedbackLevel> levels = new java.util.ArrayList<>(
          env.levels());
      levels.remove(org.sdpo.verifiers.FeedbackLevel.NONE);
      probe = new org.sdpo.core.GapProbe(env, tok, new org.sdpo.core.SelfTeacherGap.Settings(96, 1,
          0, env.responseBudget(), 1.0, seed + 7_777,
          org.sdpo.core.Reprompt.Templates.named(probeTemplates), levels, false, false,
          Runtime.getRuntime().availableProcessors()), probeEvery, 0);
    }
    double[] firstLoss = {Double.NaN};
    Pretrainer.Metrics last;
    try (ProgressBar pb = Progress.bar("pretrain", steps)) {
      last = Pretrainer.run(c, tok, resume, m -> {
        if (!m.probe().isEmpty()) {
          System.out.println("step " + m.step() + " probe: " + m.probe());
        }
        if (Double.isNaN(firstLoss[0])) {
          firstLoss[0] = m.loss();
        }
        pb.stepTo(m.step());
        pb.setExtraMessage(String.format(Locale.ROOT, "loss %.3f  %.0f tok/s", m.loss(),
            m.tokensPerSecond()));
      }, probe);
    }
    System.out.printf(Locale.ROOT, "done: %d steps, loss %.4f -> %.4f, %.1f s, peak resident memory "
            + "%s; checkpoint and metrics.jsonl in %s%n", last.step(), firstLoss[0], last.loss(),
        last.seconds(), org.sdpo.tensor.MemoryStats.describe(
            org.sdpo.tensor.MemoryStats.peakResidentBytes()), out);
    org.sdpo.tensor.DeviceMemory dm = org.sdpo.tensor.Backends.current().deviceMemory();
    if (dm != null) { // on a GPU: the run's peak (pre-training resets no peak)
      System.out.println(dm.describe());
    }
    System.out.println("charts: " + String.join(", ", charts(out).stream().map(Path::toString)
        .toList()));
    return 0;
  }

  /** The loss per step ({@code loss.png}) and, if a probe ran, its accuracies ({@code probe.png}). */
  static List<Path> charts(Path out) throws IOException {
    List<Double> steps = new ArrayList<>();
    List<Double> loss = new ArrayList<>();
    for (JsonNode l : TextFiles.readJsonLines(new ObjectMapper(), out.resolve(Pretrainer.METRICS))) {
      steps.add(l.path("step").asDouble());
      loss.add(l.path("loss").asDouble(Double.NaN));
    }
    List<Path> written = new ArrayList<>();
    written.add(out.resolve("loss.png"));
    ReportCommand.chart(written.get(0), "Pre-training loss", "step", "loss", steps, loss);
    Path probe = Charts.probe(out);
    if (probe != null) {
      written.add(probe);
    }
    return written;
  }
}
