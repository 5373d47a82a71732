package org.sdpo.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayInputStream;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ModelCommandsTest {
  @TempDir Path dir;

  @Test
  void pretrainThenSampleThenTokenize() throws Exception {
    Path data = dir.resolve("c.txt");
    Files.writeString(data, "hello there, general kenobi. ".repeat(30));
    Path run = dir.resolve("run");
    GradCheckCommandTest.Result r = GradCheckCommandTest.run("pretrain", "--data", data.toString(),
        "--out", run.toString(), "--steps", "8", "--n-layer", "1", "--n-embd", "16", "--n-head", "2",
        "--block-size", "16", "--batch-size", "4", "--warmup", "2", "--save-every", "4");
    assertThat(r.exit()).as(r.err()).isZero();
    assertThat(r.out()).contains("seed 1337", "done: 8 steps");
    assertThat(r.out()).as("no device memory line on the CPU").doesNotContain("device memory");
    assertThat(Files.readAllLines(run.resolve("metrics.jsonl"))).hasSize(8);
    assertThat(run.resolve("model.safetensors")).exists();
    assertThat(run.resolve("config.json")).exists();
    assertThat(r.out()).contains("charts: " + run.resolve("loss.png"));
    assertThat(javax.imageio.ImageIO.read(run.resolve("loss.png").toFile()).getWidth()).isEqualTo(800);

    GradCheckCommandTest.Result s = GradCheckCommandTest.run("sample", "--model", run.toString(),
        "--prompt", "hel", "--n", "2", "--max-new", "5", "--seed", "3");
    assertThat(s.exit()).isZero();
    assertThat(s.out()).contains("--- sample 0", "--- sample 1", "tokens/s), seed 3");
    GradCheckCommandTest.Result none = GradCheckCommandTest.run("sample", "--model",
        run.toString(), "--prompt", "hel", "--max-new", "0");
    assertThat(none.err().strip()).as("once: 'the prompt (3 tokens) fills the context'")
        .isEqualTo("sdpo sample: error: --n and --max-new must be at least 1, got 4 and 0");

    InputStream old = System.in;
    try {
      System.setIn(new ByteArrayInputStream("hi\nyo\n".getBytes(StandardCharsets.UTF_8)));
      GradCheckCommandTest.Result t = GradCheckCommandTest.run("tokenize", "--model", run.toString());
      assertThat(t.out().lines().toList()).containsExactly("[77,78]", "[94,84]");
      System.setIn(new ByteArrayInputStream("[77,78]\n".getBytes(StandardCharsets.UTF_8)));
      GradCheckCommandTest.Result d = GradCheckCommandTest.run("tokenize", "--model", run.toString(),
          "--decode");
      assertThat(d.out().strip()).isEqualTo("hi");
    } finally {
      System.setIn(old);
    }
  }

  /** Pre-training on a device ends with the run's peak device memory. */
  @Test
  void pretrainOnADeviceReportsItsMemory() throws Exception {
    Path data = dir.resolve("c.txt");
    Files.writeString(data, "hello there, general kenobi. ".repeat(30));
    org.sdpo.tensor.Backend cpu = org.sdpo.tensor.Backends.current();
    GradCheckCommandTest.Result r;
    try {
      org.sdpo.tensor.Backends.install(new org.sdpo.tensor.cuda.CudaBackend(
          new org.sdpo.tensor.cuda.FakeDevice(), org.sdpo.tensor.cuda.CudaBackend.Precision.FP32,
          false));
      r = GradCheckCommandTest.run("pretrain", "--data", data.toString(), "--out",
          dir.resolve("run").toString(), "--steps", "2", "--n-layer", "1", "--n-embd", "16",
          "--n-head", "2", "--block-size", "16", "--batch-size", "4", "--warmup", "1");
    } finally {
      org.sdpo.tensor.Backends.install(cpu);
    }
    assertThat(r.exit()).as(r.err()).isZero();
    assertThat(r.out()).contains("done: 2 steps")
        // one chunk of small blocks (2 MiB): the model and its batches are all under 1 MiB
        .containsPattern("device memory: peak [0-9.]+ MB in use, 2 MB held from the driver");
  }

  /** A batch larger than the sampler's tokenizer (once an error: prompt ids left the vocabulary). */
  @Test
  void benchModelRunsWithALargeBatchAndReportsMemory() {
    GradCheckCommandTest.Result r = GradCheckCommandTest.run("bench", "model", "--vocab", "48",
        "--ctx", "4", "--n-embd", "8", "--n-layer", "1", "--n-head", "2", "--batch", "70",
        "--steps", "2", "--warmup", "1");
    assertThat(r.exit()).as(r.err()).isZero();
    assertThat(r.out()).contains("train step", "sampling 70 prompts x 3 new tokens",
        "peak resident memory");
  }

  /** Prompts of several tokens decode the rest of the context; a length outside it is refused. */
  @Test
  void benchModelSamplesAfterLongerPrompts() {
    GradCheckCommandTest.Result r = GradCheckCommandTest.run("bench", "model", "--vocab", "48",
        "--ctx", "9", "--n-embd", "8", "--n-layer", "1", "--n-head", "2", "--batch", "3",
        "--steps", "1", "--warmup", "0", "--sample-runs", "1", "--prompt-len", "6");
    assertThat(r.exit()).as(r.err()).isZero();
    assertThat(r.out()).contains("sampling 3 prompts of 6 tokens x 3 new tokens");
    GradCheckCommandTest.Result bad = GradCheckCommandTest.run("bench", "model", "--vocab", "48",
        "--ctx", "9", "--n-embd", "8", "--n-layer", "1", "--n-head", "2", "--batch", "3",
        "--steps", "1", "--warmup", "0", "--sample-runs", "1", "--prompt-len", "9");
    assertThat(bad.exit()).isEqualTo(2);
    assertThat(bad.err()).contains("--prompt-len must be in [1, ctx), got 9");
    assertThat(bad.out()).doesNotContain("train step");
    GradCheckCommandTest.Result none = GradCheckCommandTest.run("bench", "model", "--steps", "0");
    assertThat(none.exit()).isEqualTo(2);
    assertThat(none.err().strip()).isEqualTo("sdpo bench model: error: --batch and --steps must be "
        + "at least 1, --warmup and --sample-runs at least 0; got 16, 0, 10, 5");
  }

  /**
   * A checkpoint's SDPO step, its update in chunks of 2 rows (a bound of 1 KiB at a vocabulary of
   * about 100); bad values stop before anything is loaded or run.
   */
  @Test
  void benchSdpoMeasuresACheckpointInChunks() {
    Path m = dir.resolve("m");
    GradCheckCommandTest.Result init = GradCheckCommandTest.run("init", "--arch", "gpt2",
        "--layers", "1", "--hidden", "16", "--heads", "2", "--positions", "48", "--out",
        m.toString());
    assertThat(init.exit()).as(init.err()).isZero();
    GradCheckCommandTest.Result r = GradCheckCommandTest.run("bench", "sdpo", "--model",
        m.toString(), "--questions", "1", "--group", "2", "--max-new", "3", "--rounds", "1",
        "--logits-chunk-mb", "0.001");
    assertThat(r.exit()).as(r.err()).isZero();
    assertThat(r.out()).contains("model " + m, "48 positions", "(2 rows)", "SDPO step / GRPO step",
        "peak resident memory");
    java.util.regex.Matcher c = java.util.regex.Pattern
        .compile("update chunks per step: GRPO ([0-9.]+), SDPO ([0-9.]+)").matcher(r.out());
    assertThat(c.find()).as(r.out()).isTrue();
    assertThat(Double.parseDouble(c.group(2))).as(r.out()).isGreaterThan(1);
    GradCheckCommandTest.Result whole = GradCheckCommandTest.run("bench", "sdpo", "--model",
        m.toString(), "--questions", "1", "--group", "2", "--max-new", "3", "--rounds", "1",
        "--logits-chunk-mb", "0");
    assertThat(whole.exit()).as(whole.err()).isZero();
    assertThat(whole.out()).contains("logits in chunks of all rows (0)",
        "update chunks per step: GRPO 1.0, SDPO 1.0");
    for (String[] bad : new String[][] {{"--logits-chunk-mb", "-1"}, {"--max-new", "48"},
        {"--model", dir.resolve("none").toString()}, {"--group", "0"}, {"--rounds", "0"}}) {
      String[] args = bad[0].equals("--model") ? new String[] {"bench", "sdpo", bad[0], bad[1]}
          : new String[] {"bench", "sdpo", "--model", m.toString(), bad[0], bad[1]};
      GradCheckCommandTest.Result e = GradCheckCommandTest.run(args);
      assertThat(e.exit()).as(bad[0]).isEqualTo(2);
      assertThat(e.err().strip()).as(bad[0]).doesNotContain("\n")
          .startsWith("sdpo bench sdpo: error: ").contains(bad[0].equals("--model") ? "none" : bad[0]);
      assertThat(e.out()).as(bad[0]).doesNotContain("GRPO");
    }
  }

  /**
   * A device too small for the run: one line that says how its memory is held and what needs
   * less, exit 2, no stack trace (the fake device with 3 MiB: the first chunk of small blocks,
   * 2 MiB, fits; the logits, 1.2 MB, are a large block, whose chunk of 64 MiB does not).
   */
  @Test
  void aDeviceOutOfMemoryIsOneLine() {
    org.sdpo.tensor.Backend cpu = org.sdpo.tensor.Backends.current();
    org.sdpo.tensor.cuda.FakeDevice small = new org.sdpo.tensor.cuda.FakeDevice();
    small.limitMemory(3L << 20);
    GradCheckCommandTest.Result r;
    try {
      org.sdpo.tensor.Backends.install(new org.sdpo.tensor.cuda.CudaBackend(small,
          org.sdpo.tensor.cuda.CudaBackend.Precision.FP32, false));
      r = GradCheckCommandTest.run("bench", "model", "--vocab", "600", "--ctx", "64", "--n-embd",
          "8", "--n-layer", "1", "--n-head", "2", "--batch", "8", "--steps", "1", "--warmup", "0");
    } finally {
      org.sdpo.tensor.Backends.install(cpu);
    }
    assertThat(r.exit()).isEqualTo(2);
    assertThat(r.err().strip()).doesNotContain("\n").doesNotContain("at org.")
        .contains("sdpo bench model: error: CUDA out of memory: 67 MB more asked of the driver "
            + "(for a block of 1 MB); this process holds 2 MB of device memory of the device's 3 "
            + "MB: 1 MB in tensors, scratch and cached copies, 1 MB free in pieces it cannot use (the "
            + "largest that blocks of its size may take: 0 bytes)", "max_new_tokens",
            "logits_chunk_mb");
  }

  /**
   * The host out of memory (HostOutOfMemoryTest makes a real one): the tensor's line and what
   * needs less, without the device's cast cache; a full Java heap says how to give it more.
   */
  @Test
  void aHostOutOfMemoryIsOneLine() {
    String m = Main.userError(new org.sdpo.tensor.HostOutOfMemoryException(
        "out of memory: no room for a float32 tensor [4096, 50257] (823 MB)"));
    assertThat(m).startsWith("out of memory: no room for a float32 tensor [4096, 50257] (823 MB). "
        + "Less is needed with fewer or shorter sequences at once (train: questions_per_step")
        .contains("logits_chunk_mb").doesNotContain("SDPO_CUDA_CAST_CACHE_MB", "\n");
    assertThat(Main.userError(new org.sdpo.tensor.DeviceOutOfMemoryException("CUDA out of memory")))
        .contains("SDPO_CUDA_CAST_CACHE_MB");
    assertThat(Main.heapFull(new OutOfMemoryError("Java heap space"), 2_147_483_648L))
        .isEqualTo("the Java heap is full (Java heap space, at most 2.15 GB): give it more with "
            + "JAVA_OPTS=-Xmx8g (./sdpo sets -Xmx2g before JAVA_OPTS)");
  }

  @Test
  void auditWritesTheOutputAndReportsTheLoss() {
    Path fx = Path.of("../transformer/src/test/resources/fixtures/gpt2-tiny");
    Path out = dir.resolve("a.safetensors");
    GradCheckCommandTest.Result r = GradCheckCommandTest.run("audit", "model", "--model",
        fx.toString(), "--batch", fx.resolve("batch.json").toString(), "--out", out.toString(),
        "--dtype", "float64");
    assertThat(r.exit()).as(r.err()).isZero();
    assertThat(r.out()).contains("loss 4.68479779293");
    assertThat(out).exists();
    GradCheckCommandTest.Result bad = GradCheckCommandTest.run("audit", "model", "--model",
        dir.resolve("none").toString(), "--batch", fx.resolve("batch.json").toString(), "--out",
        out.toString());
    assertThat(bad.exit()).isNotZero();
  }

  @Test
  void auditSdpoWritesTheOutputInTheAskedPrecision() throws Exception {
    Path fx = Path.of("../transformer/src/test/resources/fixtures/gpt2-tiny");
    Path sdpoCase = Path.of("../sdpo-core/src/test/resources/fixtures/sdpo/jsd_full.json");
    Path out = dir.resolve("s.safetensors");
    GradCheckCommandTest.Result r = GradCheckCommandTest.run("audit", "sdpo", "--model",
        fx.toString(), "--case", sdpoCase.toString(), "--out", out.toString(), "--dtype", "float64");
    assertThat(r.exit()).as(r.err()).isZero();
    assertThat(r.out()).contains("audit sdpo: loss", out.toString());
    assertThat(org.sdpo.transformer.io.Safetensors.header(out)).isNotEmpty()
        .allMatch(e -> e.dtype().equals("F64"));
  }
}
