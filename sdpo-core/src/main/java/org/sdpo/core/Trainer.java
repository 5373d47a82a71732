package org.sdpo.core;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.sdpo.tensor.DType;
import org.sdpo.tensor.Rng;
import org.sdpo.tensor.Tensor;
import org.sdpo.transformer.CausalLm;
import org.sdpo.transformer.io.AtomicFiles;
import org.sdpo.transformer.io.Checkpoint;
import org.sdpo.transformer.io.Safetensors;
import org.sdpo.transformer.sample.Sampler;
import org.sdpo.transformer.tokenizer.Tokenizer;
import org.sdpo.transformer.train.AdamW;
import org.sdpo.transformer.train.MetricsLog;
import org.sdpo.transformer.train.Pretrainer;
import org.sdpo.transformer.train.RunSettings;
import org.sdpo.verifiers.Environment;
import org.sdpo.verifiers.FeedbackLevel;
import org.sdpo.verifiers.Split;
import org.sdpo.verifiers.Task;
import org.sdpo.verifiers.Verdict;

/**
 * The training loop of {@code ./sdpo train}: steps of {@link SdpoStep} on the train split, with
 * validation (avg@k and pass@k on the test split), one JSONL line of metrics per step, periodic
 * checkpoints of the student, the teacher and the optimizer, exact resume, and a summary.
 */
public final class Trainer {
  public static final String METRICS = "metrics.jsonl";
  public static final String STATE = "trainer_state.safetensors";
  public static final String TEACHER = "teacher.safetensors";
  public static final String ROLLOUTS = "rollouts";
  public static final String SUMMARY = "summary.json";

  private Trainer() {}

  /** Called after each step with its metrics line. */
  public interface Listener {
    void onStep(int step, Map<String, Object> line);
  }

  /** Trains (or resumes) as configured; returns the summary. */
  public static Map<String, Object> run(TrainConfig c, boolean resume, Listener listener)
      throws IOException {
    Path base = Path.of(c.str("model"));
    Path out = Path.of(c.str("out"));
    if (!resume && base.toAbsolutePath().normalize().equals(
        out.resolve("checkpoint").toAbsolutePath().normalize())) {
      throw new IllegalArgumentException("model " + base + " is the checkpoint of the run in " + out
          + ", which a new run there replaces: train into another out (or --resume it)");
    }
    Files.createDirectories(out);
    CausalLm student = Checkpoint.load(resume ? out.resolve("checkpoint") : base, DType.FLOAT32);
    Tokenizer tok = c.promptTokenizer(base); // the chat template, if the model has one
    Environment env = c.environment();
    Teacher teacher = Teacher.create(c.teacherKind(), student, c.dbl("teacher_update_rate"));
    AdamW opt = new AdamW(student.namedParameters(), new AdamW.Settings(c.dbl("beta1"),
        c.dbl("beta2"), 1e-8, c.dbl("weight_decay")));
    // the KL-to-reference term of GRPO compares with the frozen starting model
    CausalLm reference = c.dbl("grpo_kl_coef") > 0 ? Checkpoint.load(base, DType.FLOAT32) : null;
    int start = 0;
    if (resume) {
      checkSameSettings(c);
      Path statePath = out.resolve(STATE);
      Map<String, Tensor> st = Safetensors.read(statePath, DType.FLOAT32, n -> false);
      start = Pretrainer.readStep(statePath);
      opt.loadState(st, start);
      if (teacher.kind() != Teacher.Kind.LIVE) {
        Checkpoint.loadWeightsInto(teacher.weights(), out.resolve(TEACHER));
      }
      MetricsLog.keepUpTo(out.resolve(METRICS), start);
      if (start >= c.integer("steps") && Files.exists(out.resolve(SUMMARY))) {
        // a finished run: its summary stands (rewritten, it would lose its last step's numbers)
        @SuppressWarnings("unchecked")
        Map<String, Object> done = new ObjectMapper().readValue(out.resolve(SUMMARY).toFile(),
            Map.class);
        return done;
      }
    } else {
      Map<String, Object> resolved = new LinkedHashMap<>(c.resolved());
      resolved.put("code_version", codeVersion());
      if (env instanceof org.sdpo.verifiers.external.ExternalEnvironment x) {
        resolved.put("grader_sandbox_used", x.mechanism().id()); // what contained the graders
        resolved.put("grader_limits_enforced", org.sdpo.verifiers.external.Sandbox.limitsEnforced());
      }
      AtomicFiles.writeJson(out.resolve("config.json"), resolved);
      // a run started again keeps nothing of the one before that it would not write over
      Files.deleteIfExists(out.resolve(METRICS));
      Files.deleteIfExists(out.resolve(SUMMARY));
      deleteStepFiles(out.resolve(ROLLOUTS));
      Checkpoint.removeFiles(out.resolve("checkpoint"));
    }
    long seed = c.integer("seed");
    Sampler.Settings sampling = new Sampler.Settings(c.dbl("temperature"), 0, c.dbl("top_p"),
        false, c.integer("max_new_tokens"), List.of(), 0);
    SdpoStep.Algorithm algo = new SdpoStep.Algorithm(c.str("algorithm"), c.dbl("lambda"),
        c.dbl("distillation_weight"), c.nullableDouble("advantage_clip"));
    int G = c.integer("group_size");
    int Q = c.integer("questions_per_step");
    long generations = (long) start * Q * G;
    long devicePeak = -1; // a device backend's most bytes in use in one step, and held
    long deviceHeld = -1;
    Map<String, Object> last = Map.of();
    Map<String, Object> lastVal = null;
    for (int step = start; step < c.integer("steps"); step++) {
      double lr = c.integer("warmup") > 0 && step < c.integer("warmup")
          ? c.dbl("lr") * (step + 1) / c.integer("warmup") : c.dbl("lr");
      Sampler.Settings stepSampling = new Sampler.Settings(sampling.temperature(), 0,
          sampling.topP(), false, sampling.maxNewTokens(), List.of(), seed * 1_000_003L + step);
      SdpoStep.Setup setup = new SdpoStep.Setup(student, teacher, tok, env, stepSampling, G,
          c.reprompt(), c.distill(), algo, c.grpo(), opt, lr, c.dbl("grad_clip"),
          c.integer("mini_batches"), c.integer("threads"), reference)
          .withPadMultiple(c.integer("pad_to_multiple_of"))
          .withLogitsChunkBytes((long) (c.dbl("logits_chunk_mb") * (1L << 20)));
      List<Task> questions = env.tasks(Split.TRAIN, Q, seed * 7919L + step, c.integer("difficulty"));
      org.sdpo.tensor.Backends.current().resetDeviceMemoryPeaks(); // each line: its step's peak
      long t0 = System.nanoTime();
      long arrays0 = org.sdpo.tensor.MemoryStats.arrays();
      long bytes0 = org.sdpo.tensor.MemoryStats.bytes();
      SdpoStep.Report rep = SdpoStep.run(setup, questions, new Rng(seed * 31L + step));
      double stepSeconds = (System.nanoTime() - t0) / 1e9;
      long newArrays = org.sdpo.tensor.MemoryStats.arrays() - arrays0;
      long newBytes = org.sdpo.tensor.MemoryStats.bytes() - bytes0;
      generations += (long) Q * G;
      Map<String, Object> line = new LinkedHashMap<>();
      line.put("step", step + 1);
      line.put("generations", generations);
      line.put("lr", lr);
      line.putAll(rep.metrics());
      line.put("step_seconds", stepSeconds);
      line.put("tensor_allocations", newArrays); // new native buffers (pool misses) this step
      line.put("tensor_allocated_bytes", newBytes);
      line.put("resident_bytes", org.sdpo.tensor.MemoryStats.residentBytes());
      org.sdpo.tensor.DeviceMemory dm = org.sdpo.tensor.Backends.current().deviceMemory();
      if (dm != null) { // a GPU's pool: what the step held at most, and what it holds now
        line.put("device_peak_in_use_bytes", dm.peakInUse());
        line.put("device_in_use_bytes", dm.inUse());
        line.put("device_reserved_bytes", dm.reserved());
        devicePeak = Math.max(devicePeak, dm.peakInUse());
        deviceHeld = Math.max(deviceHeld, dm.peakReserved());
      }
      int ve = c.integer("val_every");
      if (ve > 0 && ((step + 1) % ve == 0 || step + 1 == c.integer("steps"))) {
        lastVal = validate(student, tok, env, c, seed);
        if (c.bool("val_teacher")) {
          lastVal.putAll(contextReading(student, teacher, tok, env, c, seed));
        }
        lastVal.forEach((k, v) -> line.put("val_" + k, v));
      }
      MetricsLog.append(out.resolve(METRICS), line);
      if (c.integer("viewer_samples") > 0) { // what ./sdpo explain shows
        Map<String, Object> viewer = ViewerData.of(step + 1, rep, tok, c.integer("viewer_samples"));
        AtomicFiles.write(out.resolve(ROLLOUTS).resolve(String.format("step_%05d.json", step + 1)),
            tmp -> new ObjectMapper().writeValue(tmp.toFile(), viewer)); // compact: many tokens
      }
      if (listener != null) {
        listener.onStep(step + 1, line);
      }
      if ((step + 1) % c.integer("save_every") == 0 || step + 1 == c.integer("steps")) {
        save(student, teacher, tok, opt, out, step + 1);
      }
      last = line;
    }
    Map<String, Object> summary = new LinkedHashMap<>();
    summary.put("steps", c.integer("steps"));
    summary.put("generations", generations);
    summary.put("seed", seed);
    summary.put("algorithm", c.str("algorithm"));
    summary.put("code_version", codeVersion());
    summary.put("peak_resident_bytes", org.sdpo.tensor.MemoryStats.peakResidentBytes());
    if (devicePeak >= 0) {
      summary.put("device_peak_in_use_bytes", devicePeak);
      summary.put("device_peak_reserved_bytes", deviceHeld);
    }
    summary.put("last", last);
    if (lastVal != null) {
      summary.put("validation", lastVal);
    }
    AtomicFiles.writeJson(out.resolve(SUMMARY), summary);
    org.sdpo.tensor.Workspace.ofThisThread().releaseFree(); // this run's shapes do not return
    return summary;
  }

  /** avg@k and pass@k of the student on the test split. */
  public static Map<String, Object> validate(CausalLm student, Tokenizer tok, Environment env,
      TrainConfig c, long seed) {
    int k = c.integer("val_k");
    List<Task> tasks = env.tasks(Split.TEST, c.integer("val_tasks"), seed * 104729L, c.integer(
        "difficulty"));
    List<int[]> prompts = new ArrayList<>();
    List<Task> of = new ArrayList<>();
    for (Task t : tasks) {
      for (int i = 0; i < k; i++) {
        prompts.add(tok.encodePrompt(t.prompt()));
        of.add(t);
      }
    }
    Sampler.Settings s = new Sampler.Settings(c.dbl("val_temperature"), 0, c.dbl("val_top_p"),
        false, c.integer("max_new_tokens"), List.of(), seed);
    List<Verdict> v = Rollouts.sampleAndVerify(student, tok, env, prompts, of, prompts.size(),
        off -> s, c.integer("threads"));
    double avg = v.stream().filter(Verdict::success).count() / (double) v.size();
    int passed = 0;
    for (int t = 0; t < tasks.size(); t++) {
      boolean any = false;
      for (int i = 0; i < k; i++) {
        any |= v.get(t * k + i).success();
      }
      passed += any ? 1 : 0;
    }
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("avg_at_" + k, avg);
    m.put("pass_at_" + k, passed / (double) tasks.size());
    // by difficulty, when the questions mix several: avg_at_k_d1, avg_at_k_d2, ...
    java.util.TreeMap<Integer, int[]> byDifficulty = new java.util.TreeMap<>();
    for (int i = 0; i < v.size(); i++) {
      int[] n = byDifficulty.computeIfAbsent(of.get(i).difficulty(), d -> new int[2]);
      n[0] += v.get(i).success() ? 1 : 0;
      n[1]++;
    }
    if (byDifficulty.size() > 1) {
      byDifficulty.forEach((d, n) -> m.put("avg_at_" + k + "_d" + d, n[0] / (double) n[1]));
    }
    return m;
  }

  /**
   * Whether the models still read their context (does the ability fade during RL?): on the
   * validation questions, the accuracy after a teacher context with the feedback of a failed
   * attempt at the run's level (or, with feedback off, with a correct demonstration), once with the
   * teacher's weights ({@code teacher_accuracy}: the EMA or frozen copy; the frozen initial model
   * for the trust-region teacher, whose logits are mostly its) and once with the student's ({@code
   * student_context_accuracy}: the weights the EMA teacher follows).
   */
  public static Map<String, Object> contextReading(CausalLm student, Teacher teacher, Tokenizer tok,
      Environment env, TrainConfig c, long seed) {
    FeedbackLevel level = FeedbackLevel.parse(c.str("feedback"));
    boolean feedback = level != FeedbackLevel.NONE && c.bool("include_environment_feedback");
    SelfTeacherGap.Settings s = new SelfTeacherGap.Settings(c.integer("val_tasks"), 1,
        c.integer("difficulty"), c.integer("max_new_tokens"), c.dbl("val_temperature"),
        seed * 104729L + 1, c.templates(), feedback ? List.of(level) : List.of(), !feedback, false,
        c.integer("threads"));
    List<Task> tasks = env.tasks(Split.TEST, c.integer("val_tasks"), seed * 104729L,
        c.integer("difficulty"));
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("teacher_accuracy", readingAccuracy(SelfTeacherGap.measure(teacher.weights(), tok, env,
        tasks, s), level, feedback));
    m.put("student_context_accuracy", readingAccuracy(SelfTeacherGap.measure(student, tok, env,
        tasks, s), level, feedback));
    return m;
  }

  private static double readingAccuracy(SelfTeacherGap.Result r, FeedbackLevel level,
      boolean feedback) {
    return feedback ? r.teacher().get(level).mean() : r.demonstration().mean();
  }

  private static void save(CausalLm student, Teacher teacher, Tokenizer tok, AdamW opt, Path out,
      int step) throws IOException {
    Checkpoint.save(student, tok, out.resolve("checkpoint"), Map.of("step", Integer.toString(step)));
    Safetensors.write(out.resolve(STATE), opt.state(), Map.of("step", Integer.toString(step)));
    if (teacher.kind() != Teacher.Kind.LIVE) {
      Map<String, Tensor> tw = new LinkedHashMap<>();
      teacher.weights().namedParameters().forEach((n, v) -> tw.put(n, v.value()));
      Safetensors.write(out.resolve(TEACHER), tw, Map.of("step", Integer.toString(step)));
    }
  }

  /**
   * The options a resumed run may change: how far it goes, where things are, and what is measured
   * or kept on the way; none of them changes a step's result.
   */
  public static final java.util.Set<String> RESUME_MAY_CHANGE = java.util.Set.of("steps", "out",
      "model", "save_every", "val_every", "val_tasks", "val_k", "val_temperature", "val_top_p",
      "val_teacher", "threads", "viewer_samples");

  /**
   * Checks that {@code c} may resume the run in its {@code out}: it has the settings the run was
   * started with, apart from {@link #RESUME_MAY_CHANGE} (a resumed run is the run it continues).
   */
  public static void checkSameSettings(TrainConfig c) throws IOException {
    Path out = Path.of(c.str("out"));
    RunSettings.checkResume(out, out.resolve("config.json"),
        new ObjectMapper().valueToTree(c.resolved()), RESUME_MAY_CHANGE);
  }

  /**
   * The options of {@code c} whose values differ from those a run recorded in its {@code
   * config.json} ("lr 1.0E-4 -> 2.0E-4"), leaving out {@code mayChange}; empty if the file is
   * missing ({@link RunSettings#differences}).
   */
  public static List<String> differences(Path configJson, TrainConfig c,
      java.util.Set<String> mayChange) throws IOException {
    return RunSettings.differences(configJson, new ObjectMapper().valueToTree(c.resolved()),
        mayChange);
  }

  /** Deletes the viewer's {@code step_NNNNN.json} files of an earlier run (nothing else). */
  private static void deleteStepFiles(Path rollouts) throws IOException {
    if (!Files.isDirectory(rollouts)) {
      return;
    }
    try (var files = Files.newDirectoryStream(rollouts, "step_*.json")) {
      for (Path f : files) {
        Files.deleteIfExists(f);
      }
    }
  }

  /**
   * The code that produced a run: the git commit of the checkout these classes were built in (with
   * "+dirty" when it has uncommitted changes) if git can tell, else the jar's version. Asked of
   * the classes' own directory, not the working directory, which may be another repository.
   */
  public static String codeVersion() {
    return codeVersion(codeDirectory());
  }

  /** {@link #codeVersion()} with git asked in {@code dir} (null: no git). */
  static String codeVersion(Path dir) {
    if (dir != null) {
      try {
        Process p = new ProcessBuilder("git", "-C", dir.toString(), "describe", "--always",
            "--dirty=+dirty", "--abbrev=12").redirectErrorStream(true).start();
        String v = new String(p.getInputStream().readAllBytes(),
            java.nio.charset.StandardCharsets.UTF_8).trim();
        if (p.waitFor() == 0 && !v.isEmpty()) {
          return "git " + v;
        }
      } catch (IOException e) {
        // no git: fall back to the jar's version
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
    String v = Trainer.class.getPackage().getImplementationVersion();
    return v != null ? v : "unknown";
  }

  /** The directory of these classes: a jar's folder, or the classes directory; null if unknown. */
  static Path codeDirectory() {
    try {
      Path p = Path.of(Trainer.class.getProtectionDomain().getCodeSource().getLocation().toURI());
      return Files.isDirectory(p) ? p : p.getParent();
    } catch (RuntimeException | java.net.URISyntaxException e) { // no code source (or not a file)
      return null;
    }
  }
}
