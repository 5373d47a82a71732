package org.sdpo.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sdpo.tensor.DType;
import org.sdpo.tensor.Rng;
import org.sdpo.transformer.CausalLm;
import org.sdpo.transformer.Gpt;
import org.sdpo.transformer.GptConfig;
import org.sdpo.transformer.io.Checkpoint;
import org.sdpo.transformer.tokenizer.CharTokenizer;

/** Experiment files: arms x seeds aggregated with confidence intervals, and test-time runs. */
class ExperimentCommandTest {
  @TempDir Path dir;

  private Path tinyModel() throws Exception {
    CharTokenizer tok = CharTokenizer.ascii();
    Path m = dir.resolve("model");
    Checkpoint.save(Gpt.init(GptConfig.of(tok.vocabSize(), 256, 16, 1, 2), DType.FLOAT32,
        new Rng(1)), tok, m, null);
    return m;
  }

  @Test
  void trainArmsOverSeedsGiveATableAChartAndResumableRuns() throws Exception {
    Path model = tinyModel();
    Path out = dir.resolve("exp");
    Path cfg = dir.resolve("exp.yaml");
    Files.writeString(cfg, "name: tiny\nout: " + out + "\nmodel: " + model + "\nseeds: [1, 2]\n"
        + "train:\n  env: arith\n  difficulty: 1\n  steps: 2\n  questions_per_step: 2\n"
        + "  group_size: 2\n  max_new_tokens: 4\n  max_reprompt_len: 200\n  val_every: 1\n"
        + "  val_tasks: 2\n  val_k: 2\n  viewer_samples: 0\n"
        + "arms:\n  grpo: {algorithm: grpo}\n  sdpo: {algorithm: sdpo}\n");
    GradCheckCommandTest.Result r = GradCheckCommandTest.run("experiment", "--config", cfg.toString());
    assertThat(r.exit()).as(r.err()).isZero();
    for (String arm : new String[] {"grpo", "sdpo"}) {
      for (int seed = 1; seed <= 2; seed++) {
        assertThat(out.resolve(arm + "/seed_" + seed + "/summary.json")).exists();
      }
    }
    String md = Files.readString(out.resolve("results.md"));
    assertThat(md).contains("| grpo | ", "| sdpo | ", "mean ± 95% CI");
    // base point + 2 validations per arm
    assertThat(Files.readAllLines(out.resolve("results.csv"))).hasSize(1 + 2 * 3);
    BufferedImage png = ImageIO.read(out.resolve("accuracy.png").toFile());
    assertThat(png.getWidth()).isEqualTo(800);
    JsonNode summary = new ObjectMapper().readTree(out.resolve("summary.json").toFile());
    assertThat(summary.path("arms").path("sdpo").path("final_per_seed")).hasSize(2);

    // a second run keeps the finished runs and only re-aggregates
    GradCheckCommandTest.Result again = GradCheckCommandTest.run("experiment", "--config",
        cfg.toString());
    assertThat(again.exit()).as(again.err()).isZero();
    assertThat(again.out()).contains("grpo seed 1: finished earlier, kept");

    // an arm whose settings changed does not keep a run of the old ones (it once joined the table)
    Files.writeString(cfg, Files.readString(cfg).replace("grpo: {algorithm: grpo}",
        "grpo: {algorithm: grpo, lr: 3.0e-4}"));
    GradCheckCommandTest.Result changed = GradCheckCommandTest.run("experiment", "--config",
        cfg.toString());
    assertThat(changed.exit()).isEqualTo(2);
    assertThat(changed.err().strip()).isEqualTo("sdpo experiment: error: " + out.resolve(
        "grpo/seed_1") + " finished with other settings than this experiment's (lr 1.0E-4 -> "
        + "3.0E-4): delete it to train it again, or put the settings back");
  }

  /**
   * The analyses of the paper's claims on a micro base model: generations to GRPO's final
   * accuracy, accuracy by difficulty, whether the models still read their context, and the gain
   * against the initial gap.
   */
  @Test
  void gapGainDifficultyAndContextReadingAreSummarised() throws Exception {
    Path out = dir.resolve("gg");
    Path cfg = dir.resolve("gg.yaml");
    Files.writeString(cfg, "name: gg\nout: " + out + "\ncache: " + dir.resolve("cache")
        + "\nbase: {env: addition, tasks: 200, plain_copies: 2, feedback_docs: 'full:1,partial:1',"
        + " demonstration_rate: 0.5, templates: compact, layout: documents, n_layer: 1, n_head: 2,"
        + " n_embd: 32, block_size: 32, batch_size: 16, steps: 10, warmup: 2, probe_every: 5,"
        + " stop_at_student: 0.0}\nseeds: [1, 2]\ngap_gain: true\n"
        + "train:\n  env: addition\n  templates: compact\n  steps: 2\n  questions_per_step: 2\n"
        + "  group_size: 2\n  max_new_tokens: 6\n  max_reprompt_len: 26\n  val_every: 1\n"
        + "  val_tasks: 8\n  val_k: 1\n  val_teacher: true\n  viewer_samples: 0\n"
        + "arms:\n  grpo: {algorithm: grpo}\n  sdpo_full: {feedback: full}\n"
        + "  sdpo_partial: {feedback: partial}\n  sdpo_siblings: {feedback: none}\n");
    GradCheckCommandTest.Result r = GradCheckCommandTest.run("experiment", "--config", cfg.toString());
    assertThat(r.exit()).as(r.err()).isZero();
    String md = Files.readString(out.resolve("results.md"));
    assertThat(md).contains("generations to GRPO's final mean", "by difficulty",
        "Does the model still read its context?", "| sdpo_partial | partial feedback |",
        "| sdpo_siblings | demonstration |").doesNotContain("| grpo | full feedback |");
    for (String png : new String[] {"accuracy.png", "difficulty.png", "context_reading.png",
        "gap_gain.png"}) {
      assertThat(ImageIO.read(out.resolve(png).toFile()).getWidth()).as(png).isEqualTo(800);
    }
    JsonNode s = new ObjectMapper().readTree(out.resolve("summary.json").toFile());
    assertThat(s.path("gap_gain").path("sdpo_full").path("initial_gap").isNumber()).isTrue();
    assertThat(s.path("arms").path("sdpo_full").has("final_vs_grpo")).isTrue();
  }

  @Test
  void finalIntervalsAgainstGrpo() {
    assertThat(ExperimentResults.versus(new double[] {0.3, 0.05}, new double[] {0.1, 0.05}))
        .isEqualTo("above, intervals apart");
    assertThat(ExperimentResults.versus(new double[] {0.3, 0.15}, new double[] {0.1, 0.1}))
        .isEqualTo("intervals overlap");
    assertThat(ExperimentResults.versus(new double[] {0.0, 0.01}, new double[] {0.1, 0.05}))
        .isEqualTo("below, intervals apart");
    java.util.TreeMap<Long, Double> c = new java.util.TreeMap<>(java.util.Map.of(0L, 0.1, 10L, 0.2,
        20L, 0.3));
    assertThat(ExperimentResults.firstReaching(c, 0.2)).isEqualTo(10L);
    assertThat(ExperimentResults.firstReaching(c, 0.5)).isNull();
  }

  @Test
  void testTimeExperimentWritesDiscoveryCurves() throws Exception {
    Path model = tinyModel();
    Path out = dir.resolve("tt");
    Path cfg = dir.resolve("tt.yaml");
    Files.writeString(cfg, "kind: test_time\nout: " + out + "\nmodel: " + model
        + "\nseeds: [1, 2]\ntest_time:\n  env: arith\n  candidates: 3\n  probe_samples: 2\n"
        + "  max_base_rate: 1.0\n  tasks: 2\n  budget: 4\n  batch: 2\n  max_new_tokens: 4\n"
        + "  best_of_n: 8\n");
    GradCheckCommandTest.Result r = GradCheckCommandTest.run("experiment", "--config", cfg.toString());
    assertThat(r.exit()).as(r.err()).isZero();
    assertThat(Files.readString(out.resolve("results.md"))).contains("| 1 | ", "| 4 | ");
    assertThat(ImageIO.read(out.resolve("discovery.png").toFile()).getHeight()).isEqualTo(500);
    JsonNode s = new ObjectMapper().readTree(out.resolve("summary.json").toFile());
    assertThat(s.path("first_success_sdpo")).hasSize(4);
  }

  @Test
  void badFilesNameTheProblem() throws Exception {
    Path cfg = dir.resolve("bad.yaml");
    Files.writeString(cfg, "seeds: [1]\nmodel: x\nbase: {}\n");
    GradCheckCommandTest.Result r = GradCheckCommandTest.run("experiment", "--config", cfg.toString());
    assertThat(r.exit()).isEqualTo(2);
    assertThat(r.err()).contains("bad.yaml", "exactly one of 'base'");
    Files.writeString(cfg, "seeds: [1]\nbase: {n_layers: 3}\narms: {a: {}}\n");
    r = GradCheckCommandTest.run("experiment", "--config", cfg.toString());
    assertThat(r.err()).contains("unknown key 'n_layers'");
    Files.writeString(cfg, "seeds: [1]\nmodel: x\narms: {a: {}}\nfoo: 1\n");
    r = GradCheckCommandTest.run("experiment", "--config", cfg.toString());
    assertThat(r.err()).contains("unknown key 'foo'");
    // each is one line naming the file, before any model is trained or loaded (model x is none)
    String[][] cases = {
        {"seeds: abc\nmodel: x\narms: {a: {}}\n", "'seeds' must list at least one seed, as integers"},
        {"seeds: [1, x]\nmodel: x\narms: {a: {}}\n", "'seeds' must list at least one seed"},
        {"seeds: [1]\nmodel: x\narms: [a, b]\n", "'arms' must map each arm's name to its options"},
        {"seeds: [1]\nmodel: x\ntrain: {env: addition}\narms: {a: {}, b: {lr: -1}}\n",
            "arm 'b': option 'lr' must be > 0, got -1"},
        {"seeds: [1]\nmodel: x\narms: {a: {nosuch: 1}}\n", "arm 'a': unknown option 'nosuch'"},
        {"seeds: [1]\nmodel: x\nkind: test_time\ntest_time: {budget: 0}\n",
            "test-time: batch, budget, max_new_tokens and threads must be >= 1"},
        {"seeds: [1]\nmodel: x\nkind: test_time\ntest_time: {teacher: best}\n",
            "test_time: 'teacher' must be ema, trust_region, frozen or live, got best"},
        {"seeds: [1]\nbase: {steps: 0}\narms: {a: {}}\n", "got tasks "}};
    for (String[] c : cases) {
      Files.writeString(cfg, c[0]);
      r = GradCheckCommandTest.run("experiment", "--config", cfg.toString());
      assertThat(r.exit()).as(c[0]).isEqualTo(2);
      assertThat(r.err().strip()).as(c[0]).startsWith("sdpo experiment: error: " + cfg + ": ")
          .contains(c[1]).doesNotContain("\n", "Spec[");
      assertThat(r.out()).as(c[0]).isEmpty();
    }
  }

  /** The example files stay valid: each experiment and train config reads and passes its checks. */
  @Test
  void everyExampleFileReads() throws Exception {
    int n = 0;
    try (var files = Files.list(Path.of("../examples/experiments"))) {
      for (Path f : files.sorted().toList()) {
        assertThat(Experiment.read(f).seeds()).as(f.toString()).isNotEmpty();
        n++;
      }
    }
    try (var files = Files.list(Path.of("../examples"))) {
      for (Path f : files.filter(p -> p.toString().endsWith(".yaml")).sorted().toList()) {
        assertThat(org.sdpo.core.TrainConfig.read(f).integer("steps")).as(f.toString()).isPositive();
        n++;
      }
    }
    assertThat(n).isGreaterThanOrEqualTo(14);
  }
}
