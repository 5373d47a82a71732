package org.sdpo.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sdpo.tensor.DType;
import org.sdpo.tensor.Rng;
import org.sdpo.transformer.CausalLm;
import org.sdpo.transformer.Gpt;
import org.sdpo.transformer.GptConfig;
import org.sdpo.transformer.io.Checkpoint;
import org.sdpo.transformer.tokenizer.CharTokenizer;

class TrainerTest {
  @TempDir Path dir;

  Map<String, Object> config(Path base, Path out, int steps) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("model", base.toString());
    m.put("out", out.toString());
    m.put("env", "arith");
    m.put("feedback", "none");
    m.put("steps", steps);
    m.put("questions_per_step", 2);
    m.put("group_size", 3);
    m.put("max_new_tokens", 4);
    m.put("val_every", 2);
    m.put("val_tasks", 2);
    m.put("val_k", 2);
    m.put("save_every", 1);
    m.put("max_reprompt_len", 200);
    m.put("threads", 1);
    return m;
  }

  @Test
  void trainsLogsValidatesAndResumesExactly() throws Exception {
    CharTokenizer tok = CharTokenizer.ascii();
    Path base = dir.resolve("base");
    Checkpoint.save(Gpt.init(GptConfig.of(tok.vocabSize(), 128, 16, 1, 2), DType.FLOAT32,
        new Rng(1)), tok, base, null);
    Path a = dir.resolve("a");
    Map<String, Object> summary = Trainer.run(TrainConfig.of(config(base, a, 4)), false, null);
    assertThat(summary).containsKeys("generations", "last", "validation");
    List<String> lines = Files.readAllLines(a.resolve(Trainer.METRICS));
    assertThat(lines).hasSize(4);
    assertThat(lines.get(1)).contains("\"val_avg_at_2\"", "\"val_pass_at_2\"", "\"reward_mean\"",
        "\"success_group_fraction\"", "\"time_sampling_ms\"");
    assertThat(a.resolve("summary.json")).exists();
    assertThat(a.resolve("config.json")).exists();
    assertThat(Files.readString(a.resolve("config.json"))).contains("\"code_version\"");

    Path b = dir.resolve("b");
    try {
      Trainer.run(TrainConfig.of(config(base, b, 4)), false, (step, line) -> {
        if (step == 2) {
          throw new IllegalStateException("stop");
        }
      });
    } catch (IllegalStateException expected) {
      // interrupted after step 2 was logged, before its checkpoint: resumes from step 1
    }
    Trainer.run(TrainConfig.of(config(base, b, 4)), true, null);
    CausalLm ga = Checkpoint.load(a.resolve("checkpoint"), DType.FLOAT32);
    CausalLm gb = Checkpoint.load(b.resolve("checkpoint"), DType.FLOAT32);
    ga.namedParameters().forEach((n, v) -> assertThat(gb.namedParameters().get(n).value()
        .toFloatArray()).as(n).containsExactly(v.value().toFloatArray()));
    assertThat(Files.readAllLines(b.resolve(Trainer.METRICS))).hasSize(4);

    // resuming the finished run changes nothing (its summary once lost its last step's numbers)
    String summaryB = Files.readString(b.resolve(Trainer.SUMMARY));
    Map<String, Object> again = Trainer.run(TrainConfig.of(config(base, b, 4)), true, null);
    assertThat(b.resolve(Trainer.SUMMARY)).hasContent(summaryB);
    assertThat(again.get("last")).isInstanceOf(Map.class);
    assertThat(((Map<?, ?>) again.get("last")).containsKey("loss")).isTrue();
    assertThat(Files.readAllLines(b.resolve(Trainer.METRICS))).hasSize(4);
  }

  @Test
  void unknownKeysAndBadValuesNameTheKey() throws Exception {
    Path f = dir.resolve("c.yaml");
    Files.writeString(f, "model: x\nsteps: 3\ngroup_sise: 8\n");
    assertThatThrownBy(() -> TrainConfig.read(f)).hasMessageContaining("c.yaml")
        .hasMessageContaining("unknown option 'group_sise'");
    Files.writeString(f, "model: x\nalpha: 1.5\n");
    assertThatThrownBy(() -> TrainConfig.read(f)).hasMessageContaining("'alpha' must be in");
    Files.writeString(f, "model: x\nteacher: best\n");
    assertThatThrownBy(() -> TrainConfig.read(f)).hasMessageContaining("'teacher' must be one of");
    Files.writeString(f, "steps: 3\n");
    assertThatThrownBy(() -> TrainConfig.read(f)).hasMessageContaining("'model' is required");
    Files.writeString(f, "model: x\nsteps: three\n");
    assertThatThrownBy(() -> TrainConfig.read(f)).hasMessageContaining("'steps'");
    Files.writeString(f, "model: x\npad_to_multiple_of: 0\n");
    assertThatThrownBy(() -> TrainConfig.read(f))
        .hasMessageContaining("option 'pad_to_multiple_of' must be >= 1, got 0");
    Files.writeString(f, "model: x\ndistillation_mode: sampled_token\nalpha: 0.5\n");
    assertThatThrownBy(() -> TrainConfig.read(f)).hasMessageContaining("alpha");
    Files.writeString(f, "model: x\nalgorithm: grpo\ndistillation_topk: null\n");
    assertThat(TrainConfig.read(f).distill().topK()).isNull();
  }

  /** env: external trains against a grader command in a sandbox and records which one. */
  @Test
  void trainsAgainstAnExternalGraderInASandbox() throws Exception {
    CharTokenizer tok = CharTokenizer.ascii();
    Path base = dir.resolve("base");
    Checkpoint.save(Gpt.init(GptConfig.of(tok.vocabSize(), 128, 16, 1, 2), DType.FLOAT32,
        new Rng(1)), tok, base, null);
    Path tasks = dir.resolve("tasks.jsonl");
    Files.writeString(tasks, "{\"id\": \"a\", \"prompt\": \"6*7=\", \"split\": \"train\"}\n"
        + "{\"id\": \"b\", \"prompt\": \"7*6=\", \"split\": \"test\"}\n");
    String grader = Path.of(getClass().getResource("/graders/answer42.sh").toURI()).toString();
    Map<String, Object> m = config(base, dir.resolve("ext"), 2);
    m.put("env", "external");
    m.put("feedback", "full");
    m.put("external_command", "sh " + grader);
    m.put("external_tasks", tasks.toString());
    m.put("grader_timeout", 5.0);
    m.put("templates", "compact");
    m.put("threads", 2);
    Map<String, Object> summary = Trainer.run(TrainConfig.of(m), false, null);
    assertThat(summary).containsKey("validation");
    String config = Files.readString(dir.resolve("ext").resolve("config.json"));
    assertThat(config).contains("\"grader_sandbox_used\"");
    assertThat(Files.readAllLines(dir.resolve("ext").resolve(Trainer.METRICS)).get(0))
        .contains("\"feedback_available_fraction\":1.0"); // every wrong attempt got feedback
    m.remove("external_tasks");
    assertThatThrownBy(() -> TrainConfig.of(m)).hasMessageContaining("'external_tasks'");
    m.put("external_tasks", dir.resolve("missing.jsonl").toString());
    assertThatThrownBy(() -> TrainConfig.of(m).environment())
        .hasMessageContaining("option 'external_tasks': cannot read");
    m.put("external_tasks", tasks.toString());
    m.put("feedback", "partial");
    assertThatThrownBy(() -> TrainConfig.of(m)).hasMessageContaining("'partial' is not offered");
  }

  /**
   * A run records the commit of the code, asked where the classes are: a directory that is no
   * checkout gives no commit whatever the working directory is (once, the working directory's own
   * repository was recorded).
   */
  @Test
  void codeVersionAsksGitWhereTheClassesAre() throws Exception {
    assertThat(Trainer.codeVersion(dir)).doesNotStartWith("git ");
    assertThat(Trainer.codeVersion(null)).doesNotStartWith("git ");
    Path classes = Trainer.codeDirectory();
    assertThat(classes).isNotNull();
    assertThat(Files.isDirectory(classes)).isTrue();
    boolean checkout;
    try {
      checkout = new ProcessBuilder("git", "-C", classes.toString(), "rev-parse").start()
          .waitFor() == 0;
    } catch (java.io.IOException e) { // no git on this machine
      checkout = false;
    }
    if (checkout) { // a source tree without .git has no commit to name
      assertThat(Trainer.codeVersion()).startsWith("git ");
    }
  }
}
