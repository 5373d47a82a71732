package org.sdpo.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import org.sdpo.core.BaseModels;
import org.sdpo.core.Reprompt;
import org.sdpo.core.SelfTeacherGap;
import org.sdpo.core.Trainer;
import org.sdpo.tensor.DType;
import org.sdpo.transformer.CausalLm;
import org.sdpo.transformer.io.AtomicFiles;
import org.sdpo.transformer.io.Checkpoint;
import org.sdpo.transformer.tokenizer.Tokenizer;
import org.sdpo.verifiers.Environment;
import org.sdpo.verifiers.FeedbackLevel;
import org.sdpo.verifiers.Verifiers;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code ./sdpo gap}: the self-teacher gap of a model on held-out questions: student accuracy,
 * teacher accuracy at each feedback level and with a demonstration (95% intervals), and the
 * per-token advantage on wrong and right tokens.
 */
@Command(name = "gap", mixinStandardHelpOptions = true,
    description = "Measure the self-teacher gap of a model: how much better it answers held-out "
        + "questions with feedback or a demonstration in its context than without (the signal "
        + "SDPO distils), with 95%% intervals, and the per-token advantage on wrong vs right tokens.")
final class GapCommand implements Callable<Integer> {
  @Option(names = "--model", required = true, description = "Checkpoint directory.")
  Path model;
  @Option(names = "--env", description = "Environment (default: the base model's, from base.json; "
      + "else code).") String env;
  @Option(names = "--feedback", split = ",", description = "Feedback levels for the teacher, "
      + "comma-separated (default: every level the environment offers).")
  List<String> feedback;
  @Option(names = "--templates", description = "Template set of the teacher context: reference or "
      + "compact (default: the base model's, from base.json; else reference).") String templates;
  @Option(names = "--questions", description = "Held-out questions (default: ${DEFAULT-VALUE}).")
  int questions = 128;
  @Option(names = "--samples", description = "Student attempts per question (default: "
      + "${DEFAULT-VALUE}).") int samples = 1;
  @Option(names = "--difficulty", description = "Question difficulty, 0 for mixed (default: "
      + "${DEFAULT-VALUE}).") int difficulty = 0;
  @Option(names = "--temperature", description = "Sampling temperature (default: ${DEFAULT-VALUE}).")
  double temperature = 1.0;
  @Option(names = "--max-new-tokens", description = "Response budget (default: the environment's).")
  Integer maxNewTokens;
  @Option(names = "--seed", description = "Seed of questions and samples (default: ${DEFAULT-VALUE}).")
  long seed = 1;
  @Option(names = "--out", description = "Also write the result as JSON to this file.")
  Path out;

  @Override
  public Integer call() throws Exception {
    JsonNode info = baseInfo(model);
    String envName = env != null ? env : info.path("env").asText("code");
    Environment e = Verifiers.byName(envName);
    List<FeedbackLevel> levels = new ArrayList<>();
    if (feedback == null) {
      levels.addAll(e.levels());
    } else {
      for (String f : feedback) {
        levels.add(Verifiers.offered(e, FeedbackLevel.parse(f)));
      }
    }
    Reprompt.Templates t = Reprompt.Templates.named(templates != null ? templates
        : info.path("templates").asText("reference"));
    int maxNew = maxNewTokens != null ? maxNewTokens : e.responseBudget();
    SelfTeacherGap.Settings s = new SelfTeacherGap.Settings(questions, samples, difficulty, maxNew,
        temperature, seed, t, levels, true, true, Runtime.getRuntime().availableProcessors());
    System.out.printf("sdpo gap: %s on %s, %d held-out questions x %d samples, temperature %s, "
        + "seed %d, templates %s%n", model, envName, questions, samples, temperature, seed,
        templates != null ? templates : info.path("templates").asText("reference"));
    CausalLm m = Checkpoint.load(model, DType.FLOAT32);
    Tokenizer tok = org.sdpo.transformer.tokenizer.ChatPrompts.forModel(model, "auto", false);
    SelfTeacherGap.Result r = SelfTeacherGap.measure(m, tok, e, s);
    System.out.println();
    System.out.print(r.table());
    if (out != null) {
      Map<String, Object> j = new LinkedHashMap<>();
      j.put("model", model.toString());
      j.put("env", envName);
      j.put("questions", questions);
      j.put("samples", samples);
      j.put("temperature", temperature);
      j.put("seed", seed);
      j.put("code_version", Trainer.codeVersion());
      j.putAll(r.toMap());
      AtomicFiles.writeJson(out, j);
      System.out.println("written: " + out);
    }
    return 0;
  }

  /** The base model's settings ({@code base.json}), or an empty object. */
  static JsonNode baseInfo(Path model) throws java.io.IOException {
    Path f = model.resolve(BaseModels.INFO);
    return Files.exists(f) ? new ObjectMapper().readTree(f.toFile())
        : new ObjectMapper().createObjectNode();
  }
}
