package org.sdpo.cli;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import org.junit.jupiter.api.DynamicTest;
import org.sdpo.autograd.F;
import org.sdpo.core.TrainConfig;
import org.sdpo.core.Trainer;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.Backend;
import org.sdpo.tensor.BackendConformanceTest;
import org.sdpo.tensor.Backends;
import org.sdpo.tensor.Buf;
import org.sdpo.tensor.CapturedStep;
import org.sdpo.tensor.DType;
import org.sdpo.tensor.FlashAttentionKernels;
import org.sdpo.tensor.HostKernels;
import org.sdpo.tensor.Rng;
import org.sdpo.tensor.TestBackends;
import org.sdpo.tensor.Tensor;
import org.sdpo.tensor.cuda.CudaBackend;
import org.sdpo.tensor.cuda.CudaDriver;
import org.sdpo.tensor.cuda.FakeDevice;
import org.sdpo.transformer.Audit;
import org.sdpo.transformer.CausalLm;
import org.sdpo.transformer.Gpt;
import org.sdpo.transformer.GptConfig;
import org.sdpo.transformer.Llama;
import org.sdpo.transformer.LlamaConfig;
import org.sdpo.transformer.io.Checkpoint;
import org.sdpo.transformer.io.Safetensors;
import org.sdpo.transformer.sample.Sampler;
import org.sdpo.transformer.tokenizer.CharTokenizer;
import org.sdpo.transformer.train.AdamW;
import org.sdpo.transformer.train.GradClip;

/**
 * The GPU check's correctness part (tools/gpu-check.sh runs it from the GPU bundle, on a machine
 * with an NVIDIA GPU and no Java of its own; {@code GpuCheckTest} runs it on the fake device in
 * CI). Prints one line per check and {@code N passed, N failed}:
 * <ol>
 *   <li>every {@code Backend} method against the reference backend (plain double loops), random
 *       shapes, float32 and float64 ({@code BackendConformanceTest});
 *   <li>GPT-2, Llama, Qwen2 and Qwen3 forward and backward (loss, logits, every gradient) against
 *       the PyTorch fixtures in float64 (1e-9) and float32 (1e-4), against the CPU (the reference
 *       backend) in float32 (1e-5 relative), with TF32 matrix multiplies against PyTorch's
 *       float32 (2e-2), and with bf16 matrix operands (the loss within 2e-2);
 *   <li>three training steps (loss, backward, clipping, AdamW) in float64 ending where the CPU's
 *       end (1e-9);
 *   <li>recorded steps (CUDA graphs) against the same steps launched kernel by kernel on the
 *       device, bit for bit: three float32 training steps, the last two replayed from one
 *       recording, sampling with the decode step recorded, and two SDPO training steps (whose
 *       sampling is recorded) against the same run with nothing recorded.
 * </ol>
 * Arguments: {@code [--fake] [--examples N] [--fixtures DIR]}.
 */
public final class GpuCheck {
  static final String[] FIXTURES = {"gpt2-tiny", "llama-gqa", "qwen2-bias", "qwen3-qknorm",
      "gemma3-sandwich", "olmo2-postnorm"};
  private int passed;
  private int failed;
  private final List<String> failures = new ArrayList<>();

  public static void main(String[] args) {
    boolean fake = false;
    int examples = 10;
    Path fixtures = Path.of("transformer/src/test/resources/fixtures");
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--fake" -> fake = true;
        case "--examples" -> examples = Integer.parseInt(args[++i]);
        case "--fixtures" -> fixtures = Path.of(args[++i]);
        default -> {
          System.err.println("gpu-check: unknown argument " + args[i]);
          System.exit(2);
        }
      }
    }
    GpuCheck c = new GpuCheck();
    boolean onFake = fake;
    c.run(p -> backend(onFake, p), examples, fixtures);
    System.exit(c.failed == 0 ? 0 : 1);
  }

  /** How many operand copies a backend's cast cache reused so far, in words. */
  static String castsReused(Backend b) {
    CudaBackend.CastStats s = ((CudaBackend) b).castStats();
    return s.reused() + " of " + (s.made() + s.reused()) + " operand casts reused";
  }

  static Backend backend(boolean fake, CudaBackend.Precision p) {
    if (fake) {
      return new CudaBackend(new FakeDevice(), p);
    }
    return new CudaBackend(org.sdpo.tensor.cuda.JnaDriver.open(), p);
  }

  /** A CUDA backend of a precision. */
  interface Opener {
    Backend open(CudaBackend.Precision p) throws Exception;
  }

  /** Runs every check; returns the number failed. */
  int run(Opener open, int examples, Path fixtures) {
    Backend gpu;
    Backend gpuTf32;
    Backend gpuBf16;
    try {
      gpu = open.open(CudaBackend.Precision.FP32);
      gpuTf32 = open.open(CudaBackend.Precision.TF32);
      gpuBf16 = open.open(CudaBackend.Precision.BF16);
    } catch (Exception e) {
      fail("start the CUDA backend", e);
      return summary();
    }
    System.out.println("device: " + gpu.description());
    Backend reference = TestBackends.reference();
    // everything outside on(gpu, ...) (reading fixtures, comparing) runs on the reference
    Backends.install(reference);
    // The flash kernels have not run on a GPU yet: their checks come last, so that a fault there
    // (which ends the device's context for the rest of the process) cannot fail the others.
    List<DynamicTest> flashCases = new ArrayList<>();
    for (DynamicTest t : BackendConformanceTest.conformance(gpu, examples)) {
      if (t.getDisplayName().contains("flash")) {
        flashCases.add(t);
        continue;
      }
      check("backend " + t.getDisplayName(), () -> {
        t.getExecutable().execute();
        return null;
      });
    }
    for (String f : FIXTURES) {
      Path dir = fixtures.resolve(f);
      check(f + " float64 vs PyTorch (1e-9)",
          () -> againstPyTorch(gpu, dir, DType.FLOAT64, "expected_f64.safetensors", 1e-9));
      check(f + " float32 vs PyTorch (1e-4)",
          () -> againstPyTorch(gpu, dir, DType.FLOAT32, "expected_f32.safetensors", 1e-4));
      check(f + " float32 vs the CPU (1e-5)", () -> {
        Grads g = on(gpu, () -> forwardBackward(dir, DType.FLOAT32));
        Grads cpu = on(reference, () -> forwardBackward(dir, DType.FLOAT32));
        return compare(g, cpu.values(), 1e-5);
      });
      check(f + " tf32 matmuls vs PyTorch float32 (2e-2)",
          () -> againstPyTorch(gpuTf32, dir, DType.FLOAT32, "expected_f32.safetensors", 2e-2));
      check(f + " bf16 matmuls vs PyTorch float32 (loss 2e-2)", () -> {
        Grads g = on(gpuBf16, () -> forwardBackward(dir, DType.FLOAT32));
        return compareLoss(g, expected(dir, "expected_f32.safetensors"), 2e-2);
      });
    }
    for (String f : new String[] {"gpt2-tiny", "llama-gqa"}) {
      Path dir = fixtures.resolve(f);
      check(f + " 3 training steps float64 vs the CPU (1e-9)", () -> {
        Grads g = on(gpu, () -> train(dir));
        Grads cpu = on(reference, () -> train(dir));
        return compare(g, cpu.values(), 1e-9);
      });
    }
    // recorded steps (CUDA graphs) against the same steps launched kernel by kernel, on the device
    CudaDriver driver = ((CudaBackend) gpu).driver();
    Backend recording = new CudaBackend(driver, CudaBackend.Precision.FP32, true);
    Backend stepwise = new CudaBackend(driver, CudaBackend.Precision.FP32, false);
    for (String f : new String[] {"gpt2-tiny", "llama-gqa"}) {
      Path dir = fixtures.resolve(f);
      check(f + " 3 training steps, the last 2 recorded, vs stepwise (identical)", () -> {
        Grads rec = on(recording, () -> trainRecorded(dir));
        Grads step = on(stepwise, () -> train(dir, DType.FLOAT32));
        return compare(rec, step.values(), 0);
      });
    }
    // the bf16 mode's cast cache (each operand rounded once per value) against casting every
    // operand for every product: the same bits, kernel by kernel and recorded
    Backend bf16Cached = new CudaBackend(driver, CudaBackend.Precision.BF16, true, 64L << 20);
    Backend bf16Uncached = new CudaBackend(driver, CudaBackend.Precision.BF16, false, 0);
    for (String f : new String[] {"gpt2-tiny", "llama-gqa"}) {
      Path dir = fixtures.resolve(f);
      check(f + " 3 bf16 training steps, operand casts cached vs not (identical)", () -> {
        Grads cached = on(bf16Cached, () -> train(dir, DType.FLOAT32));
        Grads uncached = on(bf16Uncached, () -> train(dir, DType.FLOAT32));
        return compare(cached, uncached.values(), 0) + "; " + castsReused(bf16Cached);
      });
      check(f + " 3 bf16 training steps, the last 2 recorded with the cast cache, vs stepwise "
          + "without it (identical)", () -> {
        Grads rec = on(bf16Cached, () -> trainRecorded(dir));
        Grads step = on(bf16Uncached, () -> train(dir, DType.FLOAT32));
        return compare(rec, step.values(), 0);
      });
    }
    // biases added in cuBLASLt's epilogue against a product and then an add: another kernel sums
    // the product on a GPU, so float32 rounding apart (identical on the fake device)
    Backend noEpilogue = new CudaBackend(driver, CudaBackend.Precision.FP32, false, 0, false);
    check("gpt2-tiny float32 forward and backward, biases in the products' epilogue vs added "
        + "after (1e-5)", () -> {
      Path dir = fixtures.resolve("gpt2-tiny");
      Grads fused = on(stepwise, () -> forwardBackward(dir, DType.FLOAT32));
      Grads apart = on(noEpilogue, () -> forwardBackward(dir, DType.FLOAT32));
      return compare(fused, apart.values(), 1e-5);
    });
    // attention's heads read and written in place (products per batch row over strided views)
    // against contiguous copies: cuBLAS batches the products differently, so rounding apart
    Backend headsInPlace = withProperty("sdpo.cuda.headsInPlace", "1",
        () -> new CudaBackend(driver, CudaBackend.Precision.FP32, false));
    Backend headsCopied = withProperty("sdpo.cuda.headsInPlace", "0",
        () -> new CudaBackend(driver, CudaBackend.Precision.FP32, false));
    check("gpt2-tiny float32 forward and backward, attention's heads read in place vs copied "
        + "(1e-5)", () -> {
      Path dir = fixtures.resolve("gpt2-tiny");
      Grads inPlace = on(headsInPlace, () -> forwardBackward(dir, DType.FLOAT32));
      Grads copied = on(headsCopied, () -> forwardBackward(dir, DType.FLOAT32));
      return compare(inPlace, copied.values(), 1e-5);
    });
    check("AdamW over a GPT-2 124M block's 12 parameter tensors in one launch vs one launch per "
        + "tensor (float32, 1e-6)", () -> on(gpu, GpuCheck::adamwAtOnceVsOneByOne));
    check("sampling on the device vs the CPU's sampler, 8 rows of GPT-2's 50,257-token vocabulary"
        + ", 4 settings x 3 draws (tokens identical, log-probabilities 1e-12)",
        () -> on(gpu, GpuCheck::deviceSamplingVsHost));
    check("SDPO, 2 training steps with sampling recorded vs stepwise (identical)", () -> {
      Path dir = java.nio.file.Files.createTempDirectory("gpu-check-sdpo");
      try {
        Path base = sdpoBase(dir);
        Path rec = on(recording, () -> sdpoRun(base, dir.resolve("recorded")));
        Path step = on(stepwise, () -> sdpoRun(base, dir.resolve("stepwise")));
        return sameRun(rec, step);
      } finally {
        try (java.util.stream.Stream<Path> files = java.nio.file.Files.walk(dir)) {
          files.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
        }
      }
    });
    check("SDPO's update in chunks of 5 response rows vs all rows at once, float64, 2 mini-batches"
        + " (parameters, teacher and loss within 1e-9)", () -> on(gpu, GpuCheck::chunkedUpdate));
    for (String arch : new String[] {"gpt2", "llama"}) {
      check(arch + " sampling with the decode step recorded vs stepwise (identical)", () -> {
        List<Sampler.Sample> rec = on(recording, () -> sample(arch));
        List<Sampler.Sample> step = on(stepwise, () -> sample(arch));
        for (int i = 0; i < rec.size(); i++) {
          if (!java.util.Arrays.equals(rec.get(i).tokens(), step.get(i).tokens())
              || !java.util.Arrays.equals(rec.get(i).logprobs(), step.get(i).logprobs())) {
            throw new AssertionError("row " + i + ": recorded " + java.util.Arrays.toString(
                rec.get(i).tokens()) + ", stepwise " + java.util.Arrays.toString(
                step.get(i).tokens()));
          }
        }
        return rec.stream().mapToInt(x -> x.tokens().length).sum() + " tokens";
      });
    }
    // last: the kernels not yet run on a GPU (flash attention on the CUDA and the tensor cores)
    for (DynamicTest t : flashCases) {
      check("backend " + t.getDisplayName(), () -> {
        t.getExecutable().execute();
        return null;
      });
    }
    boolean fake = driver instanceof FakeDevice;
    int length = fake ? 70 : 1024; // the fake device's checked loops are slow
    for (int D : new int[] {64, 128}) {
      check("flash attention, T " + length + ", D " + D + ", 4 heads over 2 key heads, padded,"
          + " float32 vs host loops in double (1e-4)", () -> flashAtLength(gpu, length, D, false));
    }
    // the flash form through the models (the backend prefers it only for large probabilities)
    for (String f : new String[] {"gpt2-tiny", "llama-gqa"}) {
      Path dir = fixtures.resolve(f);
      check(f + " float32, flash attention (SDPO_ATTENTION=flash), vs the CPU (1e-5)", () -> {
        Grads g = on(gpu, () -> flash(() -> forwardBackward(dir, DType.FLOAT32)));
        Grads cpu = on(reference, () -> forwardBackward(dir, DType.FLOAT32));
        return compare(g, cpu.values(), 1e-5);
      });
      check(f + " 3 training steps float64, flash attention, vs the CPU (1e-9)", () -> {
        Grads g = on(gpu, () -> flash(() -> train(dir)));
        Grads cpu = on(reference, () -> train(dir));
        return compare(g, cpu.values(), 1e-9);
      });
    }
    check("gpt2-tiny 3 training steps, flash attention, the last 2 recorded, vs stepwise"
        + " (identical)", () -> {
          Path dir = fixtures.resolve("gpt2-tiny");
          Grads rec = on(recording, () -> flash(() -> trainRecorded(dir)));
          Grads step = on(stepwise, () -> flash(() -> train(dir, DType.FLOAT32)));
          return compare(rec, step.values(), 0);
        });
    for (int D : new int[] {32, 64}) {
      check("flash attention on tensor cores (bf16), T " + length + ", D " + D + ", 4 heads over"
          + " 2 key heads, padded, vs host loops in double on bf16 inputs (1e-2)",
          () -> flashAtLength(gpuBf16, length, D, true));
    }
    Backend[] pads = new Backend[3]; // rows padded: operands and outputs, operands, none
    String[] padModes = {"1", "operands", "0"};
    for (int i = 0; i < 3; i++) {
      pads[i] = withProperty("sdpo.cuda.padRows", padModes[i],
          () -> new CudaBackend(driver, CudaBackend.Precision.BF16, false));
    }
    int[] lm = fake ? new int[] {64, 32, 101} : new int[] {8192, 768, 50257};
    check("bf16 products of GPT-2's LM head, (" + lm[0] + " x " + lm[1] + ") by (" + lm[2] + " x "
        + lm[1] + ")ᵀ and its dX, rows padded to 16 bytes (operands and output; operands only) vs"
        + " as they lie (1e-5 of the largest)",
        () -> paddedVsUnpadded(driver, pads, lm[0], lm[1], lm[2]));
    int[] tk = fake ? new int[] {8, 301} : new int[] {4096, 50257};
    for (int K : new int[] {20, 100}) {
      check("top-K of SDPO's distillation, K " + K + " of (" + tk[0] + " x " + tk[1] + ") log-probs"
          + " with ties, vs the CPU (identical ids), and the picks at them",
          () -> topKAgainstCpu(driver, gpu, tk[0], tk[1], K));
    }
    for (Backend b : new Backend[] {gpu, gpuBf16}) {
      String mode = b == gpu ? "float32" : "tensor cores (bf16)";
      check("flash attention, " + mode + ", T " + length + ", D 64, heads read and written where"
          + " GPT-2 has them (B, T, 3, H, D) vs contiguous heads (identical)",
          () -> on(b, () -> flashHeadsInPlace(length, 64)));
    }
    return summary();
  }

  /** A small random GPT-2 saved under dir/base, with the ASCII tokenizer: SDPO's start. */
  static Path sdpoBase(Path dir) throws Exception {
    CharTokenizer tok = CharTokenizer.ascii();
    Path base = dir.resolve("base");
    Checkpoint.save(Gpt.init(GptConfig.of(tok.vocabSize(), 512, 16, 1, 2), DType.FLOAT32,
        new Rng(1)), tok, base, null);
    return base;
  }

  /**
   * Two SDPO steps on the current backend from {@code base} into {@code out}: addition with full
   * feedback, so sampling, grading, the self-teacher, distillation and validation all run.
   */
  static Path sdpoRun(Path base, Path out) throws Exception {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("model", base.toString());
    m.put("out", out.toString());
    m.put("env", "addition");
    m.put("feedback", "full");
    m.put("steps", 2);
    m.put("questions_per_step", 2);
    m.put("group_size", 3);
    m.put("max_new_tokens", 6);
    m.put("val_every", 2);
    m.put("val_tasks", 2);
    m.put("val_k", 2);
    m.put("save_every", 2);
    m.put("max_reprompt_len", 200);
    m.put("threads", 1);
    Trainer.run(TrainConfig.of(m), false, null);
    return out;
  }

  /** Two runs' metrics (times and memory aside) and checkpoints are the same, bit for bit. */
  static String sameRun(Path a, Path b) throws Exception {
    List<String> ma = java.nio.file.Files.readAllLines(a.resolve(Trainer.METRICS));
    List<String> mb = java.nio.file.Files.readAllLines(b.resolve(Trainer.METRICS));
    if (ma.size() != mb.size()) {
      throw new AssertionError(ma.size() + " metrics lines against " + mb.size());
    }
    for (int i = 0; i < ma.size(); i++) {
      if (!withoutTimes(ma.get(i)).equals(withoutTimes(mb.get(i)))) {
        throw new AssertionError("step " + (i + 1) + ": " + withoutTimes(ma.get(i)) + " against "
            + withoutTimes(mb.get(i)));
      }
    }
    Map<String, Variable> pa = Checkpoint.load(a.resolve("checkpoint"), DType.FLOAT32)
        .namedParameters();
    Map<String, Variable> pb = Checkpoint.load(b.resolve("checkpoint"), DType.FLOAT32)
        .namedParameters();
    for (Map.Entry<String, Variable> e : pa.entrySet()) {
      if (!java.util.Arrays.equals(e.getValue().value().toFloatArray(),
          pb.get(e.getKey()).value().toFloatArray())) {
        throw new AssertionError("checkpoints differ in " + e.getKey());
      }
    }
    return ma.size() + " steps";
  }

  /** A metrics line without the keys that measure time or memory. */
  static String withoutTimes(String line) {
    return line.replaceAll("\"(time_[a-z_]+|step_seconds|elapsed_s|resident_bytes|"
        + "tensor_allocat[a-z_]+|peak_resident_bytes|device_[a-z_]+_bytes)\":[-0-9.Ee]+,?", "");
  }

  /** Three prompts sampled from a small random model of {@code arch} (seeded). */
  static List<Sampler.Sample> sample(String arch) {
    CharTokenizer tok = new CharTokenizer("abcdefghij");
    CausalLm m = arch.equals("gpt2")
        ? Gpt.init(GptConfig.of(tok.vocabSize(), 64, 32, 2, 2), DType.FLOAT32, new Rng(3))
        : Llama.init(LlamaConfig.of(arch, tok.vocabSize(), 64, 32, 2, 4, 2, 48), DType.FLOAT32,
            new Rng(3));
    return Sampler.generate(m, tok, List.of(tok.encode("abc"), tok.encode("j"),
        tok.encode("hgfedc")), Sampler.Settings.sample(1.0, 40, 7), new int[] {40, 9, 25});
  }

  private int summary() {
    System.out.printf(Locale.ROOT, "%d passed, %d failed%n", passed, failed);
    failures.forEach(f -> System.out.println("  FAILED " + f));
    return failed;
  }

  /** A check that returns a detail to print (or null) and throws when it fails. */
  interface Check {
    String run() throws Throwable;
  }

  private void check(String name, Check body) {
    try {
      String detail = body.run();
      passed++;
      System.out.println("PASS " + name + (detail == null || detail.isEmpty() ? "" : ": " + detail));
    } catch (Throwable e) {
      fail(name, e);
    }
  }

  private void fail(String name, Throwable e) {
    failed++;
    String m = String.valueOf(e.getMessage()).replace('\n', ' ');
    String line = name + ": " + e.getClass().getSimpleName() + ": "
        + (m.length() > 400 ? m.substring(0, 400) + "..." : m);
    failures.add(line);
    System.out.println("FAIL " + line);
  }

  /**
   * The update of a list of tensors of GPT-2's parameter sizes (768 to 3,072 x 768 elements) in
   * one launch ({@code adamw_many}) against one {@code adamw} launch per tensor, from the same
   * values: whether nvcc compiled each element's arithmetic the same in both kernels ("identical")
   * or how far apart they are.
   */
  static String adamwAtOnceVsOneByOne() {
    int[] sizes = {768, 768, 2304 * 768, 2304, 768 * 768, 768, 768, 768, 3072 * 768, 3072,
        768 * 3072, 768};
    Tensor step = Tensor.of(DType.FLOAT64, new double[] {3e-4, 0.271, 0.0975}, 3);
    List<List<Tensor>> runs = new ArrayList<>();
    for (int run = 0; run < 2; run++) {
      Rng rng = new Rng(7);
      List<Tensor> ps = new ArrayList<>();
      List<Tensor> gs = new ArrayList<>();
      List<Tensor> ms = new ArrayList<>();
      List<Tensor> vs = new ArrayList<>();
      double[] wds = new double[sizes.length];
      for (int i = 0; i < sizes.length; i++) {
        ps.add(Tensor.normal(rng, DType.FLOAT32, 0, 0.02, sizes[i]));
        gs.add(Tensor.normal(rng, DType.FLOAT32, 0, 1e-3, sizes[i]));
        ms.add(Tensor.normal(rng, DType.FLOAT32, 0, 1e-4, sizes[i]));
        vs.add(Tensor.uniform(rng, DType.FLOAT32, 0, 1e-6, sizes[i]));
        wds[i] = sizes[i] > 3072 ? 0.1 : 0;
      }
      if (run == 0) {
        org.sdpo.tensor.Fused.adamw(ps, gs, ms, vs, step, 0.9, 0.95, 1e-8, wds);
      } else {
        for (int i = 0; i < sizes.length; i++) {
          org.sdpo.tensor.Fused.adamw(ps.get(i), gs.get(i), ms.get(i), vs.get(i), step, 0.9, 0.95,
              1e-8, wds[i]);
        }
      }
      List<Tensor> all = new ArrayList<>(ps);
      all.addAll(ms);
      all.addAll(vs);
      runs.add(all);
    }
    double worst = 0;
    boolean identical = true;
    for (int t = 0; t < runs.get(0).size(); t++) {
      double[] a = runs.get(0).get(t).toDoubleArray();
      double[] b = runs.get(1).get(t).toDoubleArray();
      for (int i = 0; i < a.length; i++) {
        identical &= Double.compare(a[i], b[i]) == 0;
        worst = Math.max(worst, Math.abs(a[i] - b[i]) / Math.max(1e-30, Math.abs(b[i])));
      }
    }
    if (!(worst <= 1e-6)) {
      throw new AssertionError(String.format(Locale.ROOT, "relative difference %.3g", worst));
    }
    return identical ? "identical" : String.format(Locale.ROOT, "relative difference %.3g", worst);
  }

  /**
   * sampleRows on the installed (device) backend against the CPU's sampler on the same float32
   * logits and uniforms: no filtering, top-k 50, top-p 0.9, greedy. Also times both (a call's
   * wall clock, the host's including the copy of the logits).
   */
  static String deviceSamplingVsHost() {
    int B = 8;
    int V = 50257;
    Rng rng = new Rng(3);
    Tensor logits = Tensor.normal(rng, DType.FLOAT32, 0, 3, B, V);
    double[][] settings = {{1.0, 0, 1.0, 0}, {0.7, 50, 1.0, 0}, {1.0, 0, 0.9, 0}, {1.0, 0, 1.0, 1}};
    boolean[] active = new boolean[B];
    java.util.Arrays.fill(active, true);
    double worst = 0;
    long deviceNs = 0;
    long hostNs = 0;
    int calls = 0;
    for (double[] s : settings) {
      for (int draw = 0; draw < 3; draw++) {
        double[] u = new double[B];
        for (int b = 0; b < B; b++) {
          u[b] = rng.nextDouble();
        }
        int[] tokens = new int[B];
        double[] lps = new double[B];
        long t0 = System.nanoTime();
        org.sdpo.tensor.Fused.sampleRows(logits, active, s[0], (int) s[1], s[2], s[3] == 1, u,
            tokens, lps);
        long t1 = System.nanoTime();
        double[] host = logits.toDoubleArray();
        int[] want = new int[B];
        double[] wantLps = new double[B];
        org.sdpo.tensor.HostKernels.sampleRows(Buf.of(java.nio.DoubleBuffer.wrap(host), 0,
            host.length), V, active, s[0], (int) s[1], s[2], s[3] == 1, u, want, wantLps);
        long t2 = System.nanoTime();
        if (draw > 0) { // the first call of each setting warms up
          deviceNs += t1 - t0;
          hostNs += t2 - t1;
          calls++;
        }
        if (!java.util.Arrays.equals(tokens, want)) {
          throw new AssertionError("settings " + java.util.Arrays.toString(s) + ": device "
              + java.util.Arrays.toString(tokens) + ", CPU " + java.util.Arrays.toString(want));
        }
        for (int b = 0; b < B; b++) {
          worst = Math.max(worst, Math.abs(lps[b] - wantLps[b]) / Math.max(1, -wantLps[b]));
        }
      }
    }
    if (!(worst <= 1e-12)) {
      throw new AssertionError(String.format(Locale.ROOT, "log-probabilities differ by %.3g",
          worst));
    }
    return String.format(Locale.ROOT, "tokens identical, log-probabilities within %.2g; a call of "
        + "8 rows %.3f ms on the device, %.3f ms copied to the host and drawn there", worst,
        deviceNs / 1e6 / calls, hostNs / 1e6 / calls);
  }

  /** What {@code make} returns with the system property set to {@code value} meanwhile. */
  static <T> T withProperty(String key, String value, java.util.function.Supplier<T> make) {
    String before = System.getProperty(key);
    System.setProperty(key, value);
    try {
      return make.get();
    } finally {
      if (before == null) {
        System.clearProperty(key);
      } else {
        System.setProperty(key, before);
      }
    }
  }

  /**
   * One SDPO step (float64, 2 mini-batches, EMA teacher) on the current backend with the update's
   * logits made all at once and 5 response rows at a time: the parameters, the teacher and the
   * loss agree within 1e-9 (relative where above 1). Returns the largest difference.
   */
  static String chunkedUpdate() {
    CharTokenizer tok = CharTokenizer.ascii();
    org.sdpo.verifiers.Environment env = org.sdpo.verifiers.Verifiers.byName("addition")
        .withFeedback(org.sdpo.verifiers.FeedbackLevel.FULL);
    List<org.sdpo.verifiers.Task> qs = env.tasks(org.sdpo.verifiers.Split.TRAIN, 2, 5, 0);
    List<double[]> after = new ArrayList<>();
    double[] loss = new double[2];
    for (int k = 0; k < 2; k++) {
      CausalLm m = Gpt.init(GptConfig.of(tok.vocabSize(), 256, 16, 2, 2), DType.FLOAT64,
          new Rng(6));
      org.sdpo.core.Teacher teacher = org.sdpo.core.Teacher.create(org.sdpo.core.Teacher.Kind.EMA,
          m, 0.1);
      long bytes = k == 0 ? 0 : 5L * tok.vocabSize() * DType.FLOAT64.bytes();
      org.sdpo.core.SdpoStep.Setup s = new org.sdpo.core.SdpoStep.Setup(m, teacher, tok, env,
          Sampler.Settings.sample(1.0, 6, 3), 4, org.sdpo.core.Reprompt.Config.richFeedback(200),
          org.sdpo.core.DistillConfig.jensenShannonTopK(5), org.sdpo.core.SdpoStep.Algorithm.sdpo(),
          org.sdpo.core.Grpo.Config.reference(), new AdamW(m.namedParameters(),
              AdamW.Settings.gpt()), 1e-2, 1.0, 2, 1).withLogitsChunkBytes(bytes);
      Map<String, Double> metrics = org.sdpo.core.SdpoStep.run(s, qs, new Rng(2)).metrics();
      if ((metrics.get("update_chunks") > 1) != (k == 1)) {
        throw new AssertionError("update_chunks " + metrics.get("update_chunks") + " in run " + k);
      }
      loss[k] = metrics.get("loss");
      List<double[]> w = new ArrayList<>();
      m.namedParameters().values().forEach(v -> w.add(v.value().toDoubleArray()));
      teacher.weights().namedParameters().values().forEach(v -> w.add(v.value().toDoubleArray()));
      after.add(concat(w));
    }
    double worst = Math.abs(loss[0] - loss[1]) / Math.max(1, Math.abs(loss[0]));
    for (int i = 0; i < after.get(0).length; i++) {
      double a = after.get(0)[i];
      worst = Math.max(worst, Math.abs(a - after.get(1)[i]) / Math.max(1, Math.abs(a)));
    }
    if (!(worst <= 1e-9)) {
      throw new AssertionError("chunked and whole updates differ by " + worst);
    }
    return String.format(Locale.ROOT, "largest difference %.1e", worst);
  }

  private static double[] concat(List<double[]> parts) {
    double[] out = new double[parts.stream().mapToInt(a -> a.length).sum()];
    int at = 0;
    for (double[] a : parts) {
      System.arraycopy(a, 0, out, at, a.length);
      at += a.length;
    }
    return out;
  }

  static <T> T on(Backend b, Callable<T> body) throws Exception {
    Backend previous = Backends.install(b);
    try {
      return body.call();
    } finally {
      Backends.install(previous);
    }
  }

  /**
   * Flash attention's forward and backward on the device (float32, causal, the second batch row
   * padded by a third) against {@link FlashAttentionKernels}' loops on the host in double, at a
   * length that spans many of the kernels' tiles: out, lse, dq, dk, dv within {@code 1e-4} of
   * each one's largest magnitude. With {@code bf16} (the bf16 mode's tensor-core kernels) the
   * inputs are rounded to bf16 first and the tolerance is {@code 1e-2}: the kernels round P and
   * dS to bf16 too (TensorCoreFlashTest measured 1.3e-3 to 5.2e-3 from that alone).
   */
  static String flashAtLength(Backend gpu, int T, int D, boolean bf16) throws Exception {
    if (bf16 && !((CudaBackend) gpu).tensorCoreFlash(Tensor.zeros(DType.FLOAT32, 1, 1, 1, D))) {
      throw new AssertionError("the bf16 mode does not take the tensor-core kernels for D " + D
          + " on this device");
    }
    double tolerance = bf16 ? 1e-2 : 1e-4;
    int B = 2;
    int H = 4;
    int Hkv = 2;
    Rng rng = new Rng(T + D);
    double[][] in = new double[4][]; // q, k, v, g
    int[] sizes = {B * H * T * D, B * Hkv * T * D, B * Hkv * T * D, B * H * T * D};
    for (int i = 0; i < 4; i++) {
      in[i] = new double[sizes[i]];
      for (int j = 0; j < sizes[i]; j++) {
        double x = rng.nextGaussian();
        in[i][j] = bf16 ? toBf16(x) : x;
      }
    }
    double[] mask = new double[B * T];
    for (int j = 0; j < B * T; j++) {
      mask[j] = j < T || j % T < T - T / 3 ? 1 : 0;
    }
    double scale = 1 / Math.sqrt(D);
    double[][] got = on(gpu, () -> {
      Tensor q = Tensor.of(DType.FLOAT32, in[0], B, H, T, D);
      Tensor k = Tensor.of(DType.FLOAT32, in[1], B, Hkv, T, D);
      Tensor v = Tensor.of(DType.FLOAT32, in[2], B, Hkv, T, D);
      Tensor m = Tensor.of(DType.FLOAT32, mask, B, T);
      Tensor[] f = org.sdpo.tensor.Fused.flashAttention(q, k, v, scale, m, true, 0);
      Tensor[] d = org.sdpo.tensor.Fused.flashAttentionBackward(q, k, v, f[0], f[1],
          Tensor.of(DType.FLOAT32, in[3], B, H, T, D), scale, m, true, 0);
      return new double[][] {f[0].toDoubleArray(), f[1].toDoubleArray(), d[0].toDoubleArray(),
        d[1].toDoubleArray(), d[2].toDoubleArray()};
    });
    double[][] want = {new double[sizes[0]], new double[B * H * T], new double[sizes[0]],
      new double[sizes[1]], new double[sizes[1]]};
    FlashAttentionKernels.forward(host(in[0]), host(in[1]), host(in[2]), scale, host(mask), true,
        0, B, H, Hkv, T, T, D, host(want[1]), host(want[0]));
    FlashAttentionKernels.backward(host(in[0]), host(in[1]), host(in[2]), host(want[0]), null,
        host(want[1]), host(in[3]), scale, host(mask), true, 0, B, H, Hkv, T, T, D,
        host(want[2]), host(want[3]), host(want[4]));
    String[] names = {"out", "lse", "dq", "dk", "dv"};
    StringBuilder worst = new StringBuilder();
    for (int i = 0; i < names.length; i++) {
      double max = 0;
      double err = 0;
      for (int j = 0; j < want[i].length; j++) {
        max = Math.max(max, Math.abs(want[i][j]));
        err = Math.max(err, Math.abs(got[i][j] - want[i][j]));
      }
      if (!(err <= tolerance * max)) {
        throw new AssertionError(names[i] + ": worst error " + err + " of largest " + max);
      }
      worst.append(i == 0 ? "" : ", ").append(names[i]).append(' ')
          .append(String.format(Locale.ROOT, "%.1e", err / max));
    }
    return "worst relative errors " + worst;
  }

  /**
   * Flash attention's forward and backward with Q, K, V as views of a (B, T, 3, H, D) projection,
   * out and dO of (B, T, H, D), dQ, dK, dV written into a (B, T, 3, H, D) gradient, against the
   * same on contiguous heads: the kernels read each tensor with its strides, so the bits agree.
   */
  static String flashHeadsInPlace(int T, int D) {
    int B = 2;
    int H = 4;
    Rng rng = new Rng(T * 31 + D);
    Tensor qkv = Tensor.normal(rng, DType.FLOAT32, 0, 1, B, T, 3 * H * D);
    Tensor g = Tensor.normal(rng, DType.FLOAT32, 0, 1, B, T, H * D);
    double scale = 1 / Math.sqrt(D);
    Tensor[] h = headsOf(qkv, 3 * H, H); // views (B, H, T, D)
    Tensor gh = headsOf(g, H, H)[0];
    Tensor y = Tensor.zeros(DType.FLOAT32, B, T, H * D);
    Tensor dqkv = Tensor.zeros(DType.FLOAT32, B, T, 3 * H * D);
    Tensor[] dh = headsOf(dqkv, 3 * H, H);
    Tensor lse = org.sdpo.tensor.Fused.flashAttention(h[0], h[1], h[2], scale, null, true, 0,
        headsOf(y, H, H)[0]);
    org.sdpo.tensor.Fused.flashAttentionBackward(h[0], h[1], h[2], headsOf(y, H, H)[0], lse, gh,
        scale, null, true, 0, dh[0], dh[1], dh[2]);
    Tensor[] c = new Tensor[4];
    for (int i = 0; i < 3; i++) {
      c[i] = h[i].contiguous();
    }
    c[3] = gh.contiguous();
    Tensor[] f = org.sdpo.tensor.Fused.flashAttention(c[0], c[1], c[2], scale, null, true, 0);
    Tensor[] d = org.sdpo.tensor.Fused.flashAttentionBackward(c[0], c[1], c[2], f[0], f[1], c[3],
        scale, null, true, 0);
    Tensor[][] pairs = {{headsOf(y, H, H)[0], f[0]}, {lse, f[1]}, {dh[0], d[0]}, {dh[1], d[1]},
      {dh[2], d[2]}};
    String[] names = {"out", "lse", "dq", "dk", "dv"};
    for (int i = 0; i < pairs.length; i++) {
      double[] inPlace = pairs[i][0].contiguous().toDoubleArray();
      double[] dense = pairs[i][1].toDoubleArray();
      for (int j = 0; j < dense.length; j++) {
        if (Double.doubleToLongBits(inPlace[j]) != Double.doubleToLongBits(dense[j])) {
          throw new AssertionError(names[i] + "[" + j + "]: " + inPlace[j] + " in place, "
              + dense[j] + " contiguous");
        }
      }
    }
    return "out, lse, dq, dk, dv identical";
  }

  /** x (B, T, n D) read as its n heads (B, n, T, D), in parts of {@code per} heads: views. */
  private static Tensor[] headsOf(Tensor x, int n, int per) {
    int[] s = x.shape();
    Tensor all = x.reshape(s[0], s[1], n, s[2] / n).permute(0, 2, 1, 3);
    Tensor[] parts = new Tensor[n / per];
    for (int i = 0; i < parts.length; i++) {
      parts[i] = all.slice(1, i * per, (i + 1) * per);
    }
    return parts;
  }

  /**
   * The LM head's products in the bf16 mode, logits = x wᵀ (M, N) and dX = g w (M, K), on
   * backends that pad rows not 16 bytes long (N words of a vocabulary): {operands and outputs,
   * operands only, none}: the same values up to rounding (cuBLAS may pick other kernels), and
   * each one's device time per call (3 calls after one to warm up).
   */
  static String paddedVsUnpadded(CudaDriver driver, Backend[] bes, int M, int K, int N)
      throws Exception {
    Rng rng = new Rng(M + K + N);
    double[] x = new double[M * K];
    double[] w = new double[N * K];
    double[] g = new double[M * N];
    for (double[] a : new double[][] {x, w, g}) {
      for (int i = 0; i < a.length; i++) {
        a[i] = rng.nextGaussian();
      }
    }
    double[][][] got = new double[bes.length][][];
    double[][] ms = new double[bes.length][2];
    for (int b = 0; b < bes.length; b++) {
      int which = b;
      got[b] = on(bes[b], () -> {
        Tensor xt = Tensor.of(DType.FLOAT32, x, M, K);
        Tensor wt = Tensor.of(DType.FLOAT32, w, N, K);
        Tensor gt = Tensor.of(DType.FLOAT32, g, M, N);
        Tensor[] out = new Tensor[2];
        for (int p = 0; p < 2; p++) {
          for (int call = 0; call < 4; call++) {
            driver.synchronize();
            long t0 = System.nanoTime();
            out[p] = p == 0 ? xt.matmul(wt, false, true) : gt.matmul(wt, false, false);
            driver.synchronize();
            if (call > 0) {
              ms[which][p] += (System.nanoTime() - t0) / 3e6;
            }
          }
        }
        return new double[][] {out[0].toDoubleArray(), out[1].toDoubleArray()};
      });
    }
    int none = bes.length - 1;
    for (int b = 0; b < none; b++) {
      for (int p = 0; p < 2; p++) {
        double max = 0;
        double err = 0;
        for (int i = 0; i < got[none][p].length; i++) {
          max = Math.max(max, Math.abs(got[none][p][i]));
          err = Math.max(err, Math.abs(got[b][p][i] - got[none][p][i]));
        }
        if (!(err <= 1e-5 * max)) {
          throw new AssertionError((p == 0 ? "logits" : "dX") + ", padding " + b
              + ": worst difference " + err + " of largest " + max);
        }
      }
    }
    return String.format(Locale.ROOT, "a call padded / operands padded / as they lie: logits "
        + "%.3f / %.3f / %.3f ms, dX %.3f / %.3f / %.3f ms (the operands' bf16 copies cached "
        + "from the first call on; the padded logits' copy included)", ms[0][0], ms[1][0],
        ms[2][0], ms[0][1], ms[1][1], ms[2][1]);
  }

  /**
   * {@link Tensor#topK} on the device against the CPU backend's code (its heap, {@link
   * HostKernels#topK}; the bundle has no CPU backend) on the same float32 values, a tenth of them
   * rounded to create ties: the same ids, and the picks at them; the device's time per call (3
   * calls after one to warm up) and the host code's (one call, one thread).
   */
  static String topKAgainstCpu(CudaDriver driver, Backend gpu, int N, int V, int K)
      throws Exception {
    Rng rng = new Rng(N + V + K);
    double[] z = new double[N * V];
    for (int i = 0; i < z.length; i++) {
      z[i] = (float) -Math.abs(4 * rng.nextGaussian());
      if (rng.nextInt(10) == 0) {
        z[i] = Math.round(z[i] * 4) / 4.0;
      }
    }
    long h0 = System.nanoTime();
    int[] expected = HostKernels.topK(host(z), N, V, K);
    double hostMs = (System.nanoTime() - h0) / 1e6;
    double[] ms = new double[1];
    Object[] got = on(gpu, () -> {
      Tensor x = Tensor.of(DType.FLOAT32, z, N, V);
      org.sdpo.tensor.Indices ids = null;
      for (int call = 0; call < 4; call++) {
        driver.synchronize();
        long t0 = System.nanoTime();
        ids = x.topK(K);
        driver.synchronize();
        if (call > 0) {
          ms[0] += (System.nanoTime() - t0) / 3e6;
        }
      }
      return new Object[] {ids.values(), x.pick(ids, K).toDoubleArray()};
    });
    int[] ids = (int[]) got[0];
    for (int i = 0; i < ids.length; i++) {
      if (ids[i] != expected[i]) {
        throw new AssertionError("id " + i + " (row " + i / K + "): device " + ids[i] + ", CPU "
            + expected[i]);
      }
      if (((double[]) got[1])[i] != z[i / K * V + ids[i]]) {
        throw new AssertionError("the pick at id " + i + " is not the value there");
      }
    }
    return String.format(Locale.ROOT, "a call: device %.3f ms, the CPU's code %.1f ms (one "
        + "thread)", ms[0], hostMs);
  }

  /** x rounded to bfloat16 (to nearest, ties to even; x finite). */
  private static double toBf16(double x) {
    int b = Float.floatToRawIntBits((float) x);
    return Float.intBitsToFloat((b + 0x7FFF + ((b >>> 16) & 1)) & 0xFFFF0000);
  }

  private static Buf host(double[] a) {
    return Buf.of(java.nio.DoubleBuffer.wrap(a), 0, a.length);
  }

  /** {@code body} with attention in its flash form (SDPO_ATTENTION=flash). */
  static <T> T flash(Callable<T> body) throws Exception {
    org.sdpo.tensor.Fused.AttentionPath old =
        org.sdpo.tensor.Fused.attentionPath(org.sdpo.tensor.Fused.AttentionPath.FLASH);
    try {
      return body.call();
    } finally {
      org.sdpo.tensor.Fused.attentionPath(old);
    }
  }

  /** The loss, the logits at real tokens and every gradient (or parameter), as host arrays. */
  record Grads(Map<String, double[]> values) {}

  /** Our forward and backward pass on backend b against a PyTorch fixture file, within tol. */
  static String againstPyTorch(Backend b, Path dir, DType dtype, String file, double tol)
      throws Exception {
    return compare(on(b, () -> forwardBackward(dir, dtype)), expected(dir, file), tol);
  }

  /** The audit's forward and backward pass ({@code ./sdpo audit model}) on the fixture's batch. */
  static Grads forwardBackward(Path dir, DType dtype) throws Exception {
    Audit.Batch b = Audit.readBatch(dir.resolve("batch.json"));
    return new Grads(hostValues(Audit.run(Checkpoint.load(dir, dtype), b), b));
  }

  /** Each tensor as a host array, the logits with a pad's row zeroed ({@link #realTokens}). */
  static Map<String, double[]> hostValues(Map<String, Tensor> tensors, Audit.Batch b) {
    Map<String, double[]> out = new LinkedHashMap<>();
    tensors.forEach((k, v) -> out.put(k, k.equals("logits")
        ? realTokens(v.toDoubleArray(), v.dim(-1), b) : v.toDoubleArray()));
    return out;
  }

  /** Logits with a pad's row zeroed (a pad's own logits are undefined). */
  static double[] realTokens(double[] logits, int V, Audit.Batch b) {
    for (int i = 0; i < logits.length; i++) {
      logits[i] *= b.mask()[i / V];
    }
    return logits;
  }

  static Grads train(Path dir) throws Exception {
    return train(dir, DType.FLOAT64);
  }

  /** Three training steps (loss, backward, clipping, AdamW) on the fixture's batch. */
  static Grads train(Path dir, DType dtype) throws Exception {
    CausalLm model = Checkpoint.load(dir, dtype);
    Audit.Batch b = Audit.readBatch(dir.resolve("batch.json"));
    AdamW opt = new AdamW(model.namedParameters(), AdamW.Settings.gpt());
    Tensor mask = Tensor.of(dtype, b.mask(), b.B(), b.T());
    for (int step = 0; step < 3; step++) {
      trainStep(model, b, mask);
      opt.step(1e-2);
      model.zeroGrad();
    }
    return parameters(model);
  }

  /** {@link #train} with the second and third steps replayed from one recording. */
  static Grads trainRecorded(Path dir) throws Exception {
    CausalLm model = Checkpoint.load(dir, DType.FLOAT32);
    Audit.Batch b = Audit.readBatch(dir.resolve("batch.json"));
    AdamW opt = new AdamW(model.namedParameters(), AdamW.Settings.gpt());
    Tensor mask = Tensor.of(DType.FLOAT32, b.mask(), b.B(), b.T());
    trainStep(model, b, mask); // the gradients exist before recording
    opt.step(1e-2);
    model.zeroGrad();
    try (CapturedStep g = Backends.current().captureStep(() -> {
      trainStep(model, b, mask);
      opt.apply();
      model.zeroGrad();
    })) {
      for (int step = 1; step < 3; step++) {
        opt.prepare(1e-2);
        g.replay();
      }
    }
    return parameters(model);
  }

  private static void trainStep(CausalLm model, Audit.Batch b, Tensor mask) {
    Variable logits = model.forward(b.ids(), b.B(), b.T(), mask, b.positions(), null);
    F.crossEntropy(F.reshape(logits, b.B() * b.T(), -1), b.labels(), -100).backward();
    GradClip.clipOnDevice(model.namedParameters().values(), 1.0);
  }

  private static Grads parameters(CausalLm model) {
    Map<String, double[]> out = new LinkedHashMap<>();
    model.namedParameters().forEach((k, v) -> out.put(k, v.value().toDoubleArray()));
    return new Grads(out);
  }

  /** The PyTorch fixture's loss, logits at real tokens and gradients. */
  static Map<String, double[]> expected(Path dir, String file) throws Exception {
    Map<String, Tensor> exp = Safetensors.read(dir.resolve(file), DType.FLOAT64, n -> false);
    return hostValues(exp, Audit.readBatch(dir.resolve("batch.json")));
  }

  /**
   * bf16 rounds every matrix operand to 8 significant bits, so only the loss is held to a
   * tolerance (relative); the worst gradient error is reported.
   */
  static String compareLoss(Grads ours, Map<String, double[]> expected, double tol) {
    double l = ours.values().get("loss")[0];
    double e = expected.get("loss")[0];
    double rel = Math.abs(l - e) / Math.max(Math.abs(e), 1e-300);
    if (!(rel <= tol)) {
      throw new AssertionError(String.format(Locale.ROOT, "loss %.6f, PyTorch float32 %.6f: "
          + "relative error %.3g (tolerance %.0e)", l, e, rel, tol));
    }
    String grads;
    try {
      grads = compare(ours, expected, Double.POSITIVE_INFINITY);
    } catch (AssertionError notComparable) {
      grads = notComparable.getMessage();
    }
    return String.format(Locale.ROOT, "loss relative error %.2g; gradients: %s", rel, grads);
  }

  /** The largest relative error over tensors (max |a - e| / max |e| per tensor); fails above tol. */
  static String compare(Grads ours, Map<String, double[]> expected, double tol) {
    double worst = 0;
    String where = "";
    for (Map.Entry<String, double[]> e : ours.values().entrySet()) {
      double[] x = expected.get(e.getKey());
      if (x == null) {
        throw new AssertionError("no expected value for " + e.getKey());
      }
      double[] a = e.getValue();
      if (a.length != x.length) {
        throw new AssertionError(e.getKey() + ": " + a.length + " values, expected " + x.length);
      }
      double diff = 0;
      double scale = 1e-300;
      for (int i = 0; i < a.length; i++) {
        diff = Math.max(diff, Math.abs(a[i] - x[i]));
        scale = Math.max(scale, Math.abs(x[i]));
      }
      if (!(diff / scale <= worst)) {
        worst = diff / scale;
        where = e.getKey();
      }
    }
    if (!(worst <= tol)) {
      throw new AssertionError(String.format(Locale.ROOT, "relative error %.3g in %s (tolerance %.0e)",
          worst, where, tol));
    }
    return worst == 0 ? "identical" : String.format(Locale.ROOT, "worst relative error %.2g (%s)", worst, where);
  }
}
