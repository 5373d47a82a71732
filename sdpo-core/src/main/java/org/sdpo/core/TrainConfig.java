package org.sdpo.core;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Function;
import org.sdpo.verifiers.Environment;
import org.sdpo.verifiers.FeedbackLevel;
import org.sdpo.verifiers.external.ExternalEnvironment;
import org.sdpo.verifiers.external.Sandbox;
import org.sdpo.verifiers.Verifiers;

/**
 * Every option of {@code ./sdpo train}, with the reference defaults (README table). Read from YAML
 * or JSON; an unknown key or an out-of-range value is an error naming the key.
 */
public final class TrainConfig {
  /** Option name to (default, description). */
  public static final Map<String, Object[]> OPTIONS = new LinkedHashMap<>();

  private static void opt(String key, Object def, String doc) {
    OPTIONS.put(key, new Object[] {def, doc});
  }

  static {
    opt("model", null, "base checkpoint directory, or recipe:NAME for a cached base-model recipe (required)");
    opt("out", "runs/train", "run directory: config, metrics.jsonl, checkpoints, summary.json");
    opt("env", "code", "environment: code, arith, tool, addition, key, or external (a grader command)");
    opt("external_command", null, "env external: the grader command (split on spaces), run once per attempt in a sandbox");
    opt("external_tasks", null, "env external: the task file (JSONL)");
    opt("grader_timeout", 10.0, "env external: wall-clock seconds per attempt");
    opt("grader_cpu_seconds", 10, "env external: CPU seconds per attempt (0: no limit)");
    opt("grader_memory_mib", 1024, "env external: address space in MiB (0: no limit)");
    opt("grader_max_processes", 64, "env external: processes (0: no limit)");
    opt("grader_max_file_mib", 64, "env external: largest file a grader may write, MiB (0: no limit)");
    opt("grader_network", false, "env external: let graders use the network");
    opt("grader_sandbox", "auto", "env external: auto (the strongest here), bwrap, unshare or process_tree");
    opt("feedback", "full", "feedback level: none, summary, unusable, partial or full (as the environment offers)");
    opt("difficulty", 0, "task difficulty (0 = mixed)");
    opt("seed", 1, "seed of tasks, sampling and demonstration choice");
    opt("steps", 20, "training steps");
    opt("questions_per_step", 4, "questions per step");
    opt("group_size", 8, "attempts per question (G)");
    opt("max_new_tokens", 64, "response budget");
    opt("temperature", 1.0, "rollout temperature (also divides the logits in the loss)");
    opt("top_p", 1.0, "rollout top-p");
    opt("algorithm", "sdpo", "sdpo, grpo, blend_advantage (paper Eq. 3), blend_loss ((1-w) PG + w SDPO) or sft_revealed (control: fine-tune on the reference answer of each failed attempt with feedback)");
    opt("lambda", 0.9, "blend_advantage: weight of the GRPO advantage");
    opt("distillation_weight", 1.0, "blend_loss: weight w of the SDPO loss");
    opt("alpha", 1.0, "divergence: 0 forward KL, 1 reverse KL, in between generalized JSD");
    opt("distillation_topk", 20, "student top-K buckets (null: full vocabulary)");
    opt("distillation_add_tail", true, "top-K: add the tail bucket (else renormalise)");
    opt("distillation_mode", "logit", "logit or sampled_token (reverse-KL estimator, alpha 1)");
    opt("is_clip", 2.0, "upper clip of the current/old ratio (null disables)");
    opt("rollout_is_clip", 2.0, "upper clip of the old/sampler ratio (null disables)");
    opt("loss_aggregation", "seq_mean_token_mean", "seq_mean_token_mean or token_mean");
    opt("advantage_clip", null, "blend_advantage: clip of the SDPO logit advantage (null: none)");
    opt("teacher", "ema", "ema, trust_region, frozen or live (ablations only)");
    opt("teacher_update_rate", 0.05, "EMA rate / trust-region mixing tau");
    opt("include_environment_feedback", true, "use the verifier's feedback in the teacher context");
    opt("environment_feedback_only_without_solution", true, "feedback only if no demonstration");
    opt("dont_reprompt_on_self_success", true, "never use an attempt as its own demonstration");
    opt("success_reward_threshold", 1.0, "reward at or above which an attempt succeeded");
    opt("max_reprompt_len", 256, "longest teacher context in tokens (before the response)");
    opt("reprompt_truncation", "cut_context", "cut_context (never the question/instruction) or error");
    opt("templates", "reference", "template set: reference (the paper's words) or compact (|S, |F and | markers for small models)");
    opt("reprompt_template", null, "teacher context template (null: the template set's)");
    opt("solution_template", null, "demonstration template (null: the template set's)");
    opt("feedback_template", null, "feedback template (null: the template set's)");
    opt("remove_thinking_from_demonstration", true, "drop <think>...</think> blocks from demonstrations");
    opt("chat_template", "auto", "render prompts and teacher contexts with the model's chat template: auto (when it has one), true or false");
    opt("enable_thinking", false, "the chat template's enable_thinking (null: leave it unset)");
    opt("grpo_normalize_std", false, "GRPO: divide advantages by the group std");
    opt("grpo_clip_low", 0.2, "GRPO: PPO epsilon low");
    opt("grpo_clip_high", 0.28, "GRPO: PPO epsilon high");
    opt("grpo_kl_coef", 0.0, "GRPO: KL-to-reference coefficient (k3)");
    opt("mini_batches", 1, "optimizer steps per training step (1 = on-policy)");
    opt("lr", 1e-4, "AdamW learning rate (constant after warm-up)");
    opt("warmup", 0, "linear warm-up steps");
    opt("weight_decay", 0.01, "AdamW weight decay");
    opt("beta1", 0.9, "AdamW beta1");
    opt("beta2", 0.999, "AdamW beta2");
    opt("grad_clip", 1.0, "global gradient-norm clip; a non-finite norm skips the step");
    opt("val_every", 10, "validate every N steps (0: never)");
    opt("val_tasks", 16, "test-split questions per validation");
    opt("val_k", 4, "samples per validation question (avg@k, pass@k)");
    opt("val_temperature", 0.6, "validation temperature");
    opt("val_top_p", 0.95, "validation top-p");
    opt("val_teacher", false, "at each validation also measure whether the teacher still reads its context: accuracy with feedback (or a demonstration) in the context, teacher's and student's weights");
    opt("save_every", 10, "checkpoint every N steps");
    opt("threads", Runtime.getRuntime().availableProcessors(), "verification threads");
    opt("viewer_samples", 8, "rollouts per step kept for ./sdpo explain (0: none)");
    opt("pad_to_multiple_of", 32, "teacher and student score their batches padded to a multiple of this many tokens; 32 reproduces the recorded runs, 8 is about a quarter faster and smaller at the demo's settings (results differ in their last bits)");
    opt("logits_chunk_mb", 32.0, "the update makes its vocabulary-sized tensors (logits, log-probabilities, their gradients) a chunk of response rows at a time when all rows' logits would take more than this many MiB, each chunk at most this size; 0 = all at once (the memory then grows with tokens x vocabulary; results differ in their last bits)");
  }

  private final Map<String, Object> values;

  private TrainConfig(Map<String, Object> values) {
    this.values = values;
  }

  /** Reads a YAML or JSON file; unknown keys and bad values are errors naming the key. */
  public static TrainConfig read(Path file) throws IOException {
    ObjectMapper m = file.toString().endsWith(".json") ? new ObjectMapper()
        : new ObjectMapper(new YAMLFactory());
    JsonNode n = org.sdpo.transformer.io.TextFiles.readTree(m, file, "YAML/JSON");
    if (n == null || !n.isObject()) {
      throw new IllegalArgumentException(file + ": expected a mapping of options");
    }
    try {
      return of(scalars(n));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(file + ": " + e.getMessage(), e);
    }
  }

  /**
   * The fields of a YAML/JSON mapping as Java values: null, Boolean, Long for integers, Double for
   * other numbers, String for the rest.
   */
  public static Map<String, Object> scalars(JsonNode n) {
    Map<String, Object> m = new LinkedHashMap<>();
    for (Map.Entry<String, JsonNode> e : n.properties()) {
      JsonNode v = e.getValue();
      m.put(e.getKey(), v.isNull() ? null : v.isBoolean() ? v.asBoolean() : v.isIntegralNumber()
          ? (Object) v.asLong() : v.isNumber() ? (Object) v.asDouble() : v.asText());
    }
    return m;
  }

  /** A config from explicit values over the defaults. */
  public static TrainConfig of(Map<String, Object> given) {
    Map<String, Object> v = new LinkedHashMap<>();
    OPTIONS.forEach((k, d) -> v.put(k, d[0]));
    for (Map.Entry<String, Object> e : given.entrySet()) {
      if (!OPTIONS.containsKey(e.getKey())) {
        throw new IllegalArgumentException("unknown option '" + e.getKey() + "'");
      }
      v.put(e.getKey(), e.getValue());
    }
    TrainConfig c = new TrainConfig(v);
    c.validate();
    return c;
  }

  private void validate() {
    if (str("model") == null) {
      throw new IllegalArgumentException("option 'model' is required (a base checkpoint directory)");
    }
    java.util.List<String> envs = new java.util.ArrayList<>(Verifiers.builtIn());
    envs.add("external");
    oneOf("env", envs.toArray(new String[0]));
    oneOf("feedback", "none", "summary", "unusable", "partial", "full");
    oneOf("templates", Reprompt.Templates.NAMES.toArray(new String[0]));
    oneOf("grader_sandbox", "auto", "bwrap", "unshare", "process_tree");
    oneOf("chat_template", "auto", "true", "false");
    if (str("env").equals("external")) {
      if (str("external_command") == null || str("external_command").isBlank()
          || str("external_tasks") == null) {
        throw new IllegalArgumentException("env external needs the options 'external_command' "
            + "and 'external_tasks'");
      }
      Verifiers.standardLevel("option 'feedback': external", FeedbackLevel.parse(str("feedback")));
      if (!(dbl("grader_timeout") > 0) || integer("grader_cpu_seconds") < 0
          || integer("grader_memory_mib") < 0 || integer("grader_max_processes") < 0
          || integer("grader_max_file_mib") < 0) {
        throw new IllegalArgumentException("options 'grader_timeout' must be > 0 and the other "
            + "grader limits >= 0 (0: no limit)");
      }
    } else {
      try {
        Verifiers.byName(str("env")).withFeedback(FeedbackLevel.parse(str("feedback")));
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException("option 'feedback': " + e.getMessage());
      }
    }
    oneOf("algorithm", "sdpo", "grpo", "blend_advantage", "blend_loss", "sft_revealed");
    oneOf("distillation_mode", "logit", "sampled_token");
    oneOf("loss_aggregation", "seq_mean_token_mean", "token_mean");
    oneOf("teacher", "ema", "trust_region", "frozen", "live");
    oneOf("reprompt_truncation", "cut_context", "error");
    range("alpha", 0, 1);
    range("lambda", 0, 1);
    range("distillation_weight", 0, 1);
    range("teacher_update_rate", 0, 1);
    range("temperature", 1e-6, 100);
    range("top_p", 1e-6, 1);
    range("val_top_p", 1e-6, 1);
    for (String k : new String[] {"steps", "questions_per_step", "group_size", "max_new_tokens",
        "mini_batches", "max_reprompt_len", "save_every", "threads", "val_tasks", "val_k",
        "pad_to_multiple_of"}) {
      if (integer(k) < 1) {
        throw new IllegalArgumentException("option '" + k + "' must be >= 1, got " + get(k));
      }
    }
    if (integer("warmup") < 0 || integer("val_every") < 0 || integer("difficulty") < 0
        || integer("viewer_samples") < 0 || !(dbl("logits_chunk_mb") >= 0)) {
      throw new IllegalArgumentException("options 'warmup', 'val_every', 'difficulty', "
          + "'viewer_samples' and 'logits_chunk_mb' must be >= 0");
    }
    if (!(dbl("lr") > 0)) {
      throw new IllegalArgumentException("option 'lr' must be > 0, got " + get("lr"));
    }
    if (str("distillation_mode").equals("sampled_token") && dbl("alpha") != 1.0) {
      throw new IllegalArgumentException("option 'alpha' must be 1 with distillation_mode sampled_token");
    }
    if (get("distillation_topk") != null && integer("distillation_topk") < 1) {
      throw new IllegalArgumentException("option 'distillation_topk' must be >= 1 or null");
    }
    if (integer("questions_per_step") % integer("mini_batches") != 0) {
      throw new IllegalArgumentException("option 'mini_batches' must divide questions_per_step");
    }
  }

  private void oneOf(String key, String... allowed) {
    if (!java.util.Arrays.asList(allowed).contains(str(key))) {
      throw new IllegalArgumentException("option '" + key + "' must be one of "
          + String.join(", ", allowed) + ", got '" + get(key) + "'");
    }
  }

  private void range(String key, double lo, double hi) {
    double v = dbl(key);
    if (!(v >= lo && v <= hi)) {
      throw new IllegalArgumentException("option '" + key + "' must be in [" + lo + ", " + hi
          + "], got " + get(key));
    }
  }

  public Object get(String key) {
    if (!values.containsKey(key)) {
      throw new IllegalArgumentException("unknown option '" + key + "'");
    }
    return values.get(key);
  }

  public String str(String key) {
    Object v = get(key);
    return v == null ? null : v.toString();
  }

  public double dbl(String key) {
    return convert(key, o -> ((Number) o).doubleValue());
  }

  public int integer(String key) {
    return convert(key, o -> ((Number) o).intValue());
  }

  public boolean bool(String key) {
    return convert(key, o -> (Boolean) o);
  }

  /** The tokenizer of the base model for prompts: with its chat template as configured. */
  public org.sdpo.transformer.tokenizer.Tokenizer promptTokenizer(java.nio.file.Path model)
      throws java.io.IOException {
    Object thinking = get("enable_thinking");
    return org.sdpo.transformer.tokenizer.ChatPrompts.forModel(model, str("chat_template"),
        thinking == null ? null : bool("enable_thinking"));
  }

  public Double nullableDouble(String key) {
    return get(key) == null ? null : dbl(key);
  }

  private <T> T convert(String key, Function<Object, T> f) {
    Object v = get(key);
    try {
      return f.apply(v);
    } catch (ClassCastException | NullPointerException e) {
      throw new IllegalArgumentException("option '" + key + "' has the wrong type: " + v);
    }
  }

  /** The resolved options (defaults filled in), for the run directory and the banner. */
  public Map<String, Object> resolved() {
    return java.util.Collections.unmodifiableMap(values);
  }

  /** The distillation settings. */
  public DistillConfig distill() {
    Object k = get("distillation_topk");
    return new DistillConfig(dbl("alpha"), k == null ? null : integer("distillation_topk"),
        bool("distillation_add_tail"), str("distillation_mode").equals("logit")
            ? DistillConfig.Mode.LOGIT : DistillConfig.Mode.SAMPLED_TOKEN,
        dbl("temperature"), nullableDouble("is_clip"), nullableDouble("rollout_is_clip"),
        str("loss_aggregation").equals("token_mean") ? DistillConfig.Aggregation.TOKEN_MEAN
            : DistillConfig.Aggregation.SEQ_MEAN_TOKEN_MEAN);
  }

  /**
   * The environment at the configured feedback level; {@code external} reads its task file and
   * runs its grader in a sandbox with the configured limits.
   */
  public Environment environment() {
    FeedbackLevel level = FeedbackLevel.parse(str("feedback"));
    if (!str("env").equals("external")) {
      return Verifiers.byName(str("env")).withFeedback(level);
    }
    java.nio.file.Path file = java.nio.file.Path.of(str("external_tasks"));
    java.util.List<org.sdpo.verifiers.Task> tasks;
    try {
      tasks = Verifiers.readTasks(file);
    } catch (java.io.IOException e) {
      throw new IllegalArgumentException("option 'external_tasks': cannot read " + file + ": "
          + e.getMessage());
    }
    Sandbox.Limits limits = Sandbox.Limits.of(dbl("grader_timeout"),
        integer("grader_cpu_seconds"), integer("grader_memory_mib"),
        integer("grader_max_processes"), integer("grader_max_file_mib"), 1024,
        bool("grader_network"));
    Sandbox.Mechanism m = Sandbox.Mechanism.parse("option 'grader_sandbox'", str("grader_sandbox"));
    return new ExternalEnvironment(java.util.List.of(str("external_command").trim().split("\\s+")),
        tasks, level, limits, m, null);
  }

  /** The teacher-context templates: the named set, with any template given explicitly. */
  public Reprompt.Templates templates() {
    Reprompt.Templates set = Reprompt.Templates.named(str("templates"));
    return new Reprompt.Templates(
        str("reprompt_template") != null ? str("reprompt_template") : set.reprompt(),
        str("solution_template") != null ? str("solution_template") : set.solution(),
        str("feedback_template") != null ? str("feedback_template") : set.feedback());
  }

  /** The reprompting settings. */
  public Reprompt.Config reprompt() {
    return new Reprompt.Config(templates(),
        bool("include_environment_feedback"), bool("environment_feedback_only_without_solution"),
        bool("dont_reprompt_on_self_success"), dbl("success_reward_threshold"),
        integer("max_reprompt_len"), str("reprompt_truncation").equals("error")
            ? Reprompt.Truncation.ERROR : Reprompt.Truncation.CUT_CONTEXT,
        bool("remove_thinking_from_demonstration"));
  }

  /** GRPO's settings. */
  public Grpo.Config grpo() {
    return new Grpo.Config(bool("grpo_normalize_std"), dbl("grpo_clip_low"), dbl("grpo_clip_high"),
        nullableDouble("rollout_is_clip"), dbl("grpo_kl_coef"));
  }

  public Teacher.Kind teacherKind() {
    return Teacher.Kind.valueOf(str("teacher").toUpperCase(java.util.Locale.ROOT));
  }
}
