package org.sdpo.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayInputStream;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.zip.GZIPInputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.sdpo.tensor.DType;
import org.sdpo.tensor.Tensor;
import org.sdpo.transformer.io.Safetensors;

/** The Llama family through the command line: init, sample, train, audit, chat-template, errors. */
class LlamaCommandsTest {
  @TempDir Path dir;
  static final Path FIXTURES = Path.of("../transformer/src/test/resources/fixtures");
  static final Path QWEN3 = Path.of("../transformer/src/test/resources/qwen3");

  @Test
  void initSampleAndTrainAQwen3ShapedModelThroughItsChatTemplate() throws Exception {
    Path model = dir.resolve("qwen3-tiny");
    GradCheckCommandTest.Result init = GradCheckCommandTest.run("init", "--arch", "qwen3",
        "--layers", "1", "--hidden", "32", "--heads", "4", "--kv-heads", "2", "--head-dim", "12",
        "--positions", "256", "--out", model.toString(), "--chat-template",
        "../examples/chatml.jinja");
    assertThat(init.exit()).as(init.err()).isZero();
    assertThat(init.out()).contains("qwen3", "chat template");
    assertThat(model.resolve("config.json")).exists();

    GradCheckCommandTest.Result s = GradCheckCommandTest.run("sample", "--model", model.toString(),
        "--prompt", "1+1=", "--chat", "--n", "2", "--max-new", "4");
    assertThat(s.exit()).as(s.err()).isZero();
    assertThat(s.out()).contains("<|im_start|>user\n1+1=<|im_end|>\n<|im_start|>assistant\n");

    Path cfg = dir.resolve("t.yaml");
    Files.writeString(cfg, "model: " + model + "\nout: " + dir.resolve("run") + "\nenv: addition\n"
        + "feedback: full\nsteps: 2\nquestions_per_step: 2\ngroup_size: 3\nmax_new_tokens: 6\n"
        + "max_reprompt_len: 200\nval_every: 2\nval_tasks: 2\nval_k: 1\n");
    GradCheckCommandTest.Result t = GradCheckCommandTest.run("train", "--config", cfg.toString());
    assertThat(t.exit()).as(t.err()).isZero();
    JsonNode summary = new ObjectMapper().readTree(dir.resolve("run/summary.json").toFile());
    assertThat(summary.path("last").path("loss").asDouble(Double.NaN)).isFinite();
    assertThat(summary.path("last").path("reprompt_sample_fraction").asDouble()).isEqualTo(1.0);
    assertThat(dir.resolve("run/checkpoint/config.json")).exists();
    // the trained checkpoint keeps the chat template: trained from again, prompts look the same
    assertThat(dir.resolve("run/checkpoint/chat_template.jinja")).hasSameTextualContentAs(
        Path.of("../examples/chatml.jinja"));
  }

  /** ./sdpo audit model reproduces every fixture's loss and gradients in float64. */
  @ParameterizedTest
  @ValueSource(strings = {"llama-gqa", "llama-tied", "qwen2-bias", "qwen3-qknorm",
      "gemma3-sandwich", "olmo2-postnorm"})
  void auditReproducesThePyTorchFixture(String fixture) throws Exception {
    Path fx = FIXTURES.resolve(fixture);
    Path out = dir.resolve("a.safetensors");
    GradCheckCommandTest.Result r = GradCheckCommandTest.run("audit", "model", "--model",
        fx.toString(), "--batch", fx.resolve("batch.json").toString(), "--out", out.toString(),
        "--dtype", "float64");
    assertThat(r.exit()).as(r.err()).isZero();
    Map<String, Tensor> got = Safetensors.read(out, DType.FLOAT64, n -> false);
    Map<String, Tensor> exp = Safetensors.read(fx.resolve("expected_f64.safetensors"),
        DType.FLOAT64, n -> false);
    assertThat(Math.abs(got.get("loss").item() - exp.get("loss").item())).isLessThan(1e-12);
    int grads = 0;
    for (Map.Entry<String, Tensor> e : exp.entrySet()) {
      if (e.getKey().startsWith("grad.")) {
        grads++;
        Tensor g = got.get(e.getKey());
        assertThat(g).as(e.getKey()).isNotNull();
        assertThat(g.maxAbsDiff(e.getValue()) / e.getValue().maxAbs()).as(e.getKey())
            .isLessThan(1e-9);
      }
    }
    assertThat(grads).isGreaterThan(15);
  }

  @Test
  void chatTemplateRendersQwen3sTemplate() throws Exception {
    Path msgs = dir.resolve("m.json");
    Files.writeString(msgs, "[{\"role\": \"system\", \"content\": \"You are terse.\"},"
        + " {\"role\": \"user\", \"content\": \"Hi\"}]");
    GradCheckCommandTest.Result r = GradCheckCommandTest.run("chat-template", "--model",
        QWEN3.toString(), "--messages", msgs.toString(), "--add-generation-prompt", "--var",
        "enable_thinking=false");
    assertThat(r.exit()).as(r.err()).isZero();
    assertThat(r.out()).isEqualTo("<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\n"
        + "Hi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n");
    Files.writeString(msgs, "{\"messages\": 3}");
    GradCheckCommandTest.Result bad = GradCheckCommandTest.run("chat-template", "--model",
        QWEN3.toString(), "--messages", msgs.toString());
    assertThat(bad.exit()).isEqualTo(2);
    assertThat(bad.err().strip()).contains("expected a JSON list").doesNotContain("\n");
  }

  @Test
  void tokenizeReadsTokenizerJsonAndBadDirectoriesAreOneLineErrors() throws Exception {
    Path tk = dir.resolve("tk");
    Files.createDirectories(tk);
    try (InputStream in = new GZIPInputStream(Files.newInputStream(QWEN3.resolve("tokenizer.json.gz")))) {
      Files.write(tk.resolve("tokenizer.json"), in.readAllBytes());
    }
    InputStream old = System.in;
    try {
      System.setIn(new ByteArrayInputStream("Hello world<|im_end|>\n".getBytes(StandardCharsets.UTF_8)));
      GradCheckCommandTest.Result t = GradCheckCommandTest.run("tokenize", "--model", tk.toString());
      assertThat(t.exit()).as(t.err()).isZero();
      assertThat(t.out().strip()).isEqualTo("[9707,1879,151645]");
    } finally {
      System.setIn(old);
    }
    Path bad = dir.resolve("bad");
    Files.createDirectories(bad);
    Files.writeString(bad.resolve("config.json"), "{\"model_type\": \"gemma\"}");
    for (String[] cmd : new String[][] {
        {"sample", "--model", bad.toString(), "--prompt", "x"},
        {"sample", "--model", dir.resolve("missing").toString(), "--prompt", "x"},
        {"tokenize", "--model", bad.toString()}}) {
      GradCheckCommandTest.Result r = GradCheckCommandTest.run(cmd);
      assertThat(r.exit()).as(String.join(" ", cmd)).isEqualTo(2);
      assertThat(r.err().strip()).as(r.err()).doesNotContain("\n").doesNotContain("Exception")
          .startsWith("sdpo " + cmd[0] + ": error: ");
    }
    assertThat(GradCheckCommandTest.run("sample", "--model", bad.toString(), "--prompt", "x").err())
        .contains("config.json", "model_type", "gemma");
  }
}
