package org.sdpo.cli;

import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import org.sdpo.core.DistillConfig;
import org.sdpo.core.Grpo;
import org.sdpo.core.Reprompt;
import org.sdpo.core.Scoring;
import org.sdpo.core.SdpoStep;
import org.sdpo.core.Teacher;
import org.sdpo.tensor.Backends;
import org.sdpo.tensor.DType;
import org.sdpo.tensor.MemoryStats;
import org.sdpo.tensor.Rng;
import org.sdpo.transformer.CausalLm;
import org.sdpo.transformer.io.Checkpoint;
import org.sdpo.transformer.Gpt;
import org.sdpo.transformer.GptConfig;
import org.sdpo.transformer.sample.Sampler;
import org.sdpo.transformer.tokenizer.ChatPrompts;
import org.sdpo.transformer.tokenizer.CharTokenizer;
import org.sdpo.transformer.tokenizer.Tokenizer;
import org.sdpo.transformer.train.AdamW;
import org.sdpo.verifiers.Environment;
import org.sdpo.verifiers.FeedbackLevel;
import org.sdpo.verifiers.Split;
import org.sdpo.verifiers.Verifiers;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code ./sdpo bench sdpo}: one training step of GRPO and of SDPO side by side (same model, same
 * questions, same seeds), split into sampling, verification, teacher scoring and update. By
 * default at the demo's settings (addition, 16 questions x G 8, 6 new tokens, compact templates,
 * frozen teacher, the 4-layer model with 32 positions); {@code --env code} measures the earlier
 * demo's (256 positions, 32 new tokens, the reference templates, EMA teacher). {@code --model DIR}
 * measures a checkpoint instead (any architecture, with its tokenizer; both methods start from its
 * weights), and {@code --logits-chunk-mb} the update's bound on a chunk of logits, so that a step at
 * a real vocabulary can be timed with and without chunks, on the CPU and on a GPU.
 */
@Command(name = "sdpo", mixinStandardHelpOptions = true,
    description = "Time of one GRPO and one SDPO step, split into sampling, verification, teacher and update.")
final class BenchSdpoCommand implements Callable<Integer> {
  @Option(names = "--env", description = "addition (the demo's settings) or code (default: "
      + "${DEFAULT-VALUE})") String envName = "addition";
  @Option(names = "--questions", description = "default: 16 (addition), 8 (code)") Integer questions;
  @Option(names = "--group", description = "G (default: ${DEFAULT-VALUE})") int group = 8;
  @Option(names = "--max-new", description = "default: 6 (addition), 32 (code)") Integer maxNew;
  @Option(names = "--rounds", description = "measured steps per method (default: ${DEFAULT-VALUE})")
  int rounds = 10;
  @Option(names = "--model", paramLabel = "DIR", description = "a checkpoint to measure (default: "
      + "a fresh 4-layer model of n_embd 128 with the ASCII tokenizer)") Path model;
  @Option(names = "--logits-chunk-mb", paramLabel = "MB", description = "the update's bound on a "
      + "chunk of logits, as train's logits_chunk_mb; 0: all rows at once (default: "
      + "${DEFAULT-VALUE})") double logitsChunkMb = SdpoStep.DEFAULT_LOGITS_CHUNK_BYTES / 1048576.0;

  @Override
  public Integer call() throws java.io.IOException {
    boolean code = envName.equals("code");
    if (!code && !envName.equals("addition")) {
      throw new IllegalArgumentException("--env must be addition or code, got " + envName);
    }
    if (!(logitsChunkMb >= 0) || Double.isInfinite(logitsChunkMb)) {
      throw new IllegalArgumentException("--logits-chunk-mb must be a number >= 0, got "
          + logitsChunkMb);
    }
    int q = questions != null ? questions : code ? 8 : 16;
    int newTokens = maxNew != null ? maxNew : code ? 32 : 6;
    if (q < 1 || group < 1 || rounds < 1 || newTokens < 1) {
      throw new IllegalArgumentException("--questions, --group, --rounds and --max-new must be at "
          + "least 1; got " + q + ", " + group + ", " + rounds + ", " + newTokens);
    }
    Tokenizer tok = model == null ? CharTokenizer.ascii() : ChatPrompts.forModel(model, "auto", false);
    // the model of each method, from the same weights (read once)
    CausalLm[] students = new CausalLm[2];
    students[0] = model == null
        ? Gpt.init(GptConfig.of(tok.vocabSize(), code ? 256 : 32, 128, 4, 4), DType.FLOAT32,
            new Rng(1))
        : Checkpoint.load(model, DType.FLOAT32);
    students[1] = students[0].copy(DType.FLOAT32);
    int positions = students[0].config().nPositions();
    if (newTokens >= positions) {
      throw new IllegalArgumentException("--max-new " + newTokens + " leaves no room for a prompt in "
          + positions + " positions");
    }
    long chunkBytes = Math.round(logitsChunkMb * 1048576.0);
    System.out.printf(Locale.ROOT, "sdpo bench sdpo: %s environment, %d questions x G %d, %d new "
        + "tokens, %s templates, %s teacher, model %s (vocabulary %d, %d layers, %d positions, %d "
        + "parameters), logits in chunks of %s, %d rounds after one warm-up%n", envName, q, group,
        newTokens, code ? "reference" : "compact", code ? "EMA" : "frozen",
        model == null ? "n_embd 128" : model.toString(), students[0].config().vocabSize(),
        students[0].config().nLayer(), positions, students[0].config().parameterCount(),
        chunkBytes == 0 ? "all rows (0)" : String.format(Locale.ROOT, "%.4g MiB (", logitsChunkMb)
            + Scoring.chunkRows(students[0], chunkBytes) + " rows)", rounds);
    System.out.println("backend: " + Backends.describe());
    Environment env = Verifiers.byName(envName).withFeedback(FeedbackLevel.FULL);
    Reprompt.Config rc = new Reprompt.Config(code ? Reprompt.Templates.reference()
        : Reprompt.Templates.compact(), true, true, true, 1.0, positions - newTokens,
        Reprompt.Truncation.CUT_CONTEXT);
    Teacher.Kind kind = code ? Teacher.Kind.EMA : Teacher.Kind.FROZEN;
    String[] keys = {"time_sampling_ms", "time_verification_ms", "time_teacher_ms", "time_update_ms"};
    double[][] totals = new double[2][keys.length + 1];
    double[] chunks = new double[2];
    long[] devicePeak = new long[2]; // a GPU's most bytes in use in one step of each method
    Teacher[] teachers = new Teacher[2];
    AdamW[] opts = new AdamW[2];
    for (int m = 0; m < 2; m++) {
      teachers[m] = Teacher.create(kind, students[m], 0.05);
      opts[m] = new AdamW(students[m].namedParameters(), AdamW.Settings.gpt());
    }
    // round -1 warms the JIT and the buffer pools up for both; then the methods alternate
    for (int r = -1; r < rounds; r++) {
      for (int m = 0; m < 2; m++) {
        SdpoStep.Algorithm algo = m == 0 ? SdpoStep.Algorithm.grpo() : SdpoStep.Algorithm.sdpo();
        SdpoStep.Setup s = new SdpoStep.Setup(students[m], teachers[m], tok, env,
            Sampler.Settings.sample(1.0, newTokens, 100 + r), group, rc,
            DistillConfig.reverseKlTopK(20), algo,
            Grpo.Config.reference(), opts[m], 1e-5, 1.0, 1,
            Runtime.getRuntime().availableProcessors()).withLogitsChunkBytes(chunkBytes);
        Backends.current().resetDeviceMemoryPeaks();
        long t0 = System.nanoTime();
        Map<String, Double> mt = SdpoStep.run(s, env.tasks(Split.TRAIN, q, 200 + r, code ? 1 : 0),
            new Rng(r + 10)).metrics();
        double total = (System.nanoTime() - t0) / 1e6;
        if (r >= 0) {
          for (int k = 0; k < keys.length; k++) {
            totals[m][k] += mt.getOrDefault(keys[k], 0.0) / rounds;
          }
          totals[m][keys.length] += total / rounds;
          chunks[m] += mt.getOrDefault("update_chunks", 0.0) / rounds;
        }
        org.sdpo.tensor.DeviceMemory dm = Backends.current().deviceMemory();
        if (dm != null) {
          devicePeak[m] = Math.max(devicePeak[m], dm.peakInUse());
        }
      }
    }
    System.out.printf(Locale.ROOT, "%-6s %12s %14s %12s %12s %12s%n", "", "sampling ms",
        "verification ms", "teacher ms", "update ms", "total ms");
    String[] names = {"GRPO", "SDPO"};
    for (int m = 0; m < 2; m++) {
      System.out.printf(Locale.ROOT, "%-6s %12.1f %14.1f %12.1f %12.1f %12.1f%n", names[m],
          totals[m][0], totals[m][1], totals[m][2], totals[m][3], totals[m][4]);
    }
    System.out.printf(Locale.ROOT, "SDPO step / GRPO step: %.2fx (%+.0f%%)%n",
        totals[1][4] / totals[0][4], 100 * (totals[1][4] / totals[0][4] - 1));
    System.out.printf(Locale.ROOT, "update chunks per step: GRPO %.1f, SDPO %.1f; peak resident "
        + "memory %s%n", chunks[0], chunks[1], MemoryStats.describe(MemoryStats.peakResidentBytes()));
    org.sdpo.tensor.DeviceMemory dm = Backends.current().deviceMemory();
    if (dm != null) {
      System.out.printf(Locale.ROOT, "device memory, peak in use in a step: GRPO %s, SDPO %s; "
          + "%s held from the driver at most%s%n", MemoryStats.describe(devicePeak[0]),
          MemoryStats.describe(devicePeak[1]), MemoryStats.describe(dm.peakReserved()),
          dm.total() > 0 ? " (of " + MemoryStats.describe(dm.total()) + ")" : "");
    }
    return 0;
  }
}
