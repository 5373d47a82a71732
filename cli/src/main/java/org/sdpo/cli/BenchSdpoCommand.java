package org.sdpo.cli;

import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import org.sdpo.core.DistillConfig;
import org.sdpo.core.Grpo;
import org.sdpo.core.Reprompt;
import org.sdpo.core.SdpoStep;
import org.sdpo.core.Teacher;
import org.sdpo.tensor.Backends;
import org.sdpo.tensor.DType;
import org.sdpo.tensor.Rng;
import org.sdpo.transformer.CausalLm;
import org.sdpo.transformer.Gpt;
import org.sdpo.transformer.GptConfig;
import org.sdpo.transformer.sample.Sampler;
import org.sdpo.transformer.tokenizer.CharTokenizer;
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
 * demo's (256 positions, 32 new tokens, the reference templates, EMA teacher).
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

  @Override
  public Integer call() {
    boolean code = envName.equals("code");
    if (!code && !envName.equals("addition")) {
      throw new IllegalArgumentException("--env must be addition or code, got " + envName);
    }
    int q = questions != null ? questions : code ? 8 : 16;
    int newTokens = maxNew != null ? maxNew : code ? 32 : 6;
    int positions = code ? 256 : 32;
    CharTokenizer tok = CharTokenizer.ascii();
    GptConfig cfg = GptConfig.of(tok.vocabSize(), positions, 128, 4, 4);
    System.out.printf(Locale.ROOT, "sdpo bench sdpo: %s environment, %d questions x G %d, %d new "
        + "tokens, %s templates, %s teacher, model n_embd 128, 4 layers, %d positions, %d "
        + "parameters, %d rounds after one warm-up%n", envName, q, group, newTokens,
        code ? "reference" : "compact", code ? "EMA" : "frozen", positions, cfg.parameterCount(),
        rounds);
    System.out.println("backend: " + Backends.describe());
    Environment env = Verifiers.byName(envName).withFeedback(FeedbackLevel.FULL);
    Reprompt.Config rc = new Reprompt.Config(code ? Reprompt.Templates.reference()
        : Reprompt.Templates.compact(), true, true, true, 1.0, positions - newTokens,
        Reprompt.Truncation.CUT_CONTEXT);
    Teacher.Kind kind = code ? Teacher.Kind.EMA : Teacher.Kind.FROZEN;
    String[] keys = {"time_sampling_ms", "time_verification_ms", "time_teacher_ms", "time_update_ms"};
    double[][] totals = new double[2][keys.length + 1];
    CausalLm[] students = new CausalLm[2];
    Teacher[] teachers = new Teacher[2];
    AdamW[] opts = new AdamW[2];
    for (int m = 0; m < 2; m++) {
      students[m] = Gpt.init(cfg, DType.FLOAT32, new Rng(1));
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
            Runtime.getRuntime().availableProcessors());
        long t0 = System.nanoTime();
        Map<String, Double> mt = SdpoStep.run(s, env.tasks(Split.TRAIN, q, 200 + r, code ? 1 : 0),
            new Rng(r + 10)).metrics();
        double total = (System.nanoTime() - t0) / 1e6;
        if (r >= 0) {
          for (int k = 0; k < keys.length; k++) {
            totals[m][k] += mt.getOrDefault(keys[k], 0.0) / rounds;
          }
          totals[m][keys.length] += total / rounds;
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
    return 0;
  }
}
