package org.sdpo.cli.tutorial;

import java.io.PrintStream;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.sdpo.autograd.Variable;
import org.sdpo.core.DistillConfig;
import org.sdpo.core.Grpo;
import org.sdpo.core.Reprompt;
import org.sdpo.core.SdpoStep;
import org.sdpo.core.Teacher;
import org.sdpo.tensor.Rng;
import org.sdpo.tensor.Tensor;
import org.sdpo.transformer.CausalLm;
import org.sdpo.transformer.sample.Sampler;
import org.sdpo.transformer.tokenizer.Tokenizer;
import org.sdpo.transformer.train.AdamW;
import org.sdpo.verifiers.Environment;
import org.sdpo.verifiers.FeedbackLevel;
import org.sdpo.verifiers.Split;
import org.sdpo.verifiers.Task;
import org.sdpo.verifiers.Verifiers;

/**
 * Tutorial 6: one SDPO step, printed stage by stage: (1) a group of G attempts at one question,
 * (2) rewards and feedback from the verifier, (3) each attempt's teacher context (question + a
 * successful sibling or the feedback), (4) per token: the student's and the teacher's
 * log-probability of the sampled token and their difference, the SDPO advantage, (5) the
 * distillation loss and gradient norm of the update, (6) the EMA teacher moving toward the student.
 */
public final class T6SdpoStep {
  private T6SdpoStep() {}

  /** One step on an easy code question with the reference templates. */
  public static Map<String, Double> run(PrintStream out, CausalLm student, Tokenizer tok, int groupSize,
      int maxNew) {
    return run(out, student, tok, groupSize, maxNew, "code", Reprompt.Templates.reference());
  }

  /** One step on an easy question of the environment, in the given teacher templates. */
  public static Map<String, Double> run(PrintStream out, CausalLm student, Tokenizer tok, int groupSize,
      int maxNew, String envName, Reprompt.Templates templates) {
    Environment env = Verifiers.byName(envName).withFeedback(FeedbackLevel.FULL);
    // an easy code question; for the other environments one a level below the hardest
    int difficulty = envName.equals("code") ? 1 : Math.max(1, env.maxDifficulty() - 1);
    Task question = env.tasks(Split.TRAIN, 1, 5, difficulty).get(0);
    double rate = 0.05; // EMA rate: teacher <- (1 - rate) teacher + rate student
    Teacher teacher = Teacher.create(Teacher.Kind.EMA, student, rate);
    AdamW opt = new AdamW(student.namedParameters(), new AdamW.Settings(0.9, 0.999, 1e-8, 0.0));
    int maxContext = student.config().nPositions() - maxNew;
    SdpoStep.Setup setup = new SdpoStep.Setup(student, teacher, tok, env,
        Sampler.Settings.sample(1.0, maxNew, 42), groupSize, new Reprompt.Config(templates, true,
            true, true, 1.0, maxContext, Reprompt.Truncation.CUT_CONTEXT),
        DistillConfig.reverseKlTopK(20), SdpoStep.Algorithm.sdpo(), Grpo.Config.reference(), opt,
        1e-3, 1.0, 1, 1);
    Map<String, Tensor> before = snapshot(student);
    SdpoStep.Report r = SdpoStep.run(setup, List.of(question), new Rng(7));

    out.println("== (1) the question\n" + question.prompt());
    int V = r.studentLogprobs() == null ? 0 : r.studentLogprobs().dim(1);
    double[] sl = V == 0 ? new double[0] : r.studentLogprobs().toDoubleArray();
    double[] tl = V == 0 ? new double[0] : r.teacherLogprobs().toDoubleArray();
    int row = 0;
    for (int i = 0; i < r.samples().size(); i++) {
      Sampler.Sample x = r.samples().get(i);
      Reprompt.Context c = r.contexts().get(i);
      out.printf(Locale.ROOT, "%n== attempt %d: reward %.1f (%s)%n%s%n", i + 1,
          r.attempts().get(i).reward(), r.verdicts().get(i).kind(), x.text());
      out.println("-- (2) feedback: " + (r.attempts().get(i).feedback().isEmpty() ? "(none)"
          : r.attempts().get(i).feedback().replace("\n", " | ")));
      out.println("-- (3) teacher context (" + (c.hasDemonstration() ? "demonstration: attempt "
          + (c.demonstration() + 1) : c.usesFeedback() ? "its own feedback" : "nothing to add")
          + (c.masked() ? "" : "; masked out, no loss") + "):\n" + c.text());
      out.println("-- (4) token   student   teacher   advantage (teacher - student)");
      for (int k = 0; k < x.tokens().length && V > 0; k++) {
        int id = x.tokens()[k];
        int o = (row + k) * V;
        out.printf(Locale.ROOT, "   %-6s %8.3f  %8.3f  %+9.3f%n",
            "'" + tok.tokenText(id).replace("\n", "\\n") + "'", sl[o + id],
            tl[o + id], tl[o + id] - sl[o + id]);
      }
      row += x.tokens().length;
    }
    out.printf(Locale.ROOT, "%n== (5) the update: loss %.5f, gradient norm %.4f (clipped at 1), "
        + "%d of %d attempts distilled%n", r.metrics().get("loss"), r.metrics().get("grad_norm"),
        r.contexts().stream().filter(Reprompt.Context::masked).count(), r.contexts().size());
    // (6) the teacher started equal to the student; the student moved by d, the EMA teacher by
    // rate * d, so their distances to the starting weights differ by exactly the factor rate
    double moved = distance(student, before);
    double teacherMoved = distance(teacher.weights(), before);
    out.printf(Locale.ROOT, "== (6) student moved %.6f, EMA teacher moved %.6f: ratio %.4f = rate "
        + "%.2f%n", moved, teacherMoved, teacherMoved / moved, rate);
    return Map.of("loss", r.metrics().get("loss"), "ratio", teacherMoved / moved);
  }

  private static Map<String, Tensor> snapshot(CausalLm m) {
    Map<String, Tensor> s = new java.util.LinkedHashMap<>();
    m.namedParameters().forEach((n, v) -> s.put(n, v.value().copy()));
    return s;
  }

  /** Euclidean distance between the model's weights and a snapshot. */
  private static double distance(CausalLm m, Map<String, Tensor> ref) {
    double ss = 0;
    for (Map.Entry<String, Variable> e : m.namedParameters().entrySet()) {
      double[] a = e.getValue().value().toDoubleArray();
      double[] b = ref.get(e.getKey()).toDoubleArray();
      for (int i = 0; i < a.length; i++) {
        ss += (a[i] - b[i]) * (a[i] - b[i]);
      }
    }
    return Math.sqrt(ss);
  }
}
