package org.sdpo.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import org.sdpo.core.TestTime;
import org.sdpo.tensor.DType;
import org.sdpo.transformer.CausalLm;
import org.sdpo.transformer.io.Checkpoint;
import org.sdpo.transformer.tokenizer.Tokenizer;
import org.sdpo.verifiers.Environment;
import org.sdpo.verifiers.FeedbackLevel;
import org.sdpo.verifiers.Task;
import org.sdpo.verifiers.Verifiers;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code ./sdpo ttt}: test-time SDPO on one question, against best-of-k and multi-turn. */
@Command(name = "ttt", mixinStandardHelpOptions = true,
    description = "Test-time SDPO on one hard question vs best-of-k and multi-turn: discovery@k.")
final class TttCommand implements Callable<Integer> {
  @Option(names = "--model", required = true, description = "Base checkpoint.") Path model;
  @Option(names = "--env", required = true, description = "code, arith, tool, addition or key.")
  String env;
  @Option(names = "--feedback", description = "default: ${DEFAULT-VALUE}") String feedback = "full";
  @Option(names = "--task-file", required = true, description = "Tasks (JSONL).") Path taskFile;
  @Option(names = "--index", description = "Which task of the file (default: ${DEFAULT-VALUE}).")
  int index = 0;
  @Option(names = "--batch", description = "Attempts per SDPO step (default: ${DEFAULT-VALUE}).")
  int batch = 16;
  @Option(names = "--budget", description = "Generations per seed (default: ${DEFAULT-VALUE}).")
  int budget = 64;
  @Option(names = "--seeds", description = "Seeds (default: ${DEFAULT-VALUE}).") int seeds = 3;
  @Option(names = "--lr", description = "default: ${DEFAULT-VALUE}") double lr = 1e-4;
  @Option(names = "--max-new", description = "default: ${DEFAULT-VALUE}") int maxNew = 48;
  @Option(names = "--best-of-n", description = "Samples for the unbiased best-of-k estimate "
      + "(default: 4 x budget).") Integer bestOfN;
  @Option(names = "--templates", description = "Teacher-context templates: reference or compact "
      + "(default: the base model's, from base.json; else reference).") String templates;
  @Option(names = "--teacher", description = "ema, frozen, trust_region or live (default: "
      + "${DEFAULT-VALUE}).") String teacher = "ema";
  @Option(names = "--out", description = "Write the report as JSON here.") Path out;

  @Override
  public Integer call() throws Exception {
    CausalLm base = Checkpoint.load(model, DType.FLOAT32);
    Tokenizer tok = org.sdpo.transformer.tokenizer.ChatPrompts.forModel(model, "auto", false);
    Environment e = Verifiers.byName(env).withFeedback(FeedbackLevel.parse(feedback));
    List<Task> tasks = EnvOptions.readTasks(taskFile);
    if (index < 0 || index >= tasks.size()) {
      throw new IllegalArgumentException(taskFile + " has " + tasks.size() + " tasks; --index "
          + index + " is out of range");
    }
    Task task = tasks.get(index);
    String t = templates != null ? templates
        : GapCommand.baseInfo(model).path("templates").asText("reference");
    TestTime.Settings s = new TestTime.Settings(batch, budget, lr,
        org.sdpo.core.Teacher.Kind.valueOf(teacher.toUpperCase(Locale.ROOT)), 0.01,
        org.sdpo.core.DistillConfig.reverseKlTopK(20), 5.0, 1.0, maxNew,
        org.sdpo.core.Reprompt.Templates.named(t), Runtime.getRuntime().availableProcessors());
    if (seeds < 1 || (bestOfN != null && bestOfN < 1)) {
      throw new IllegalArgumentException("--seeds and --best-of-n must be at least 1");
    }
    System.out.println("sdpo ttt: task " + task.id() + ", budget " + budget + " generations, "
        + seeds + " seeds, batch " + batch);
    int[] sdpo = new int[seeds];
    int[] multi = new int[seeds];
    for (int seed = 0; seed < seeds; seed++) {
      sdpo[seed] = TestTime.sdpo(base, tok, e, task, s, seed + 1);
      multi[seed] = TestTime.multiTurn(base, tok, e, task, s, seed + 1);
      System.out.printf(Locale.ROOT, "seed %d: first success at generation %s (test-time SDPO), "
          + "%s (multi-turn)%n", seed + 1, shown(sdpo[seed], budget), shown(multi[seed], budget));
    }
    int n = bestOfN != null ? bestOfN : 4 * budget;
    int c = TestTime.bestOfK(base, tok, e, task, s, n, 1);
    System.out.printf(Locale.ROOT, "best-of-k: %d of %d i.i.d. samples succeed%n", c, n);
    Map<Integer, double[]> ts = TestTime.table(sdpo, budget, 11);
    Map<Integer, double[]> tm = TestTime.table(multi, budget, 13);
    System.out.println();
    System.out.println("     k   test-time SDPO (90% CI)   multi-turn (90% CI)     best-of-k");
    Map<String, Object> report = new LinkedHashMap<>();
    List<Map<String, Object>> rows = new java.util.ArrayList<>();
    for (int k : ts.keySet()) {
      double[] a = ts.get(k);
      double[] b = tm.get(k);
      double bo = TestTime.passAtK(n, c, Math.min(k, n));
      System.out.printf(Locale.ROOT, "%6d   %.2f (%.2f-%.2f)          %.2f (%.2f-%.2f)         %.3f%n",
          k, a[0], a[1], a[2], b[0], b[1], b[2], bo);
      Map<String, Object> row = new LinkedHashMap<>();
      row.put("k", k);
      row.put("sdpo", a[0]);
      row.put("sdpo_ci", List.of(a[1], a[2]));
      row.put("multi_turn", b[0]);
      row.put("multi_turn_ci", List.of(b[1], b[2]));
      row.put("best_of_k", bo);
      rows.add(row);
    }
    report.put("task", task.id());
    report.put("first_success_sdpo", sdpo);
    report.put("first_success_multi_turn", multi);
    report.put("best_of_k", Map.of("n", n, "successes", c));
    report.put("discovery", rows);
    if (out != null) {
      org.sdpo.transformer.io.AtomicFiles.writeJson(out, report);
      System.out.println("report: " + out);
    }
    return 0;
  }

  private static String shown(int first, int budget) {
    return first > budget ? "none within " + budget : String.valueOf(first);
  }
}
