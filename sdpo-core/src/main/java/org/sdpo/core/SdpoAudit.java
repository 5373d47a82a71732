package org.sdpo.core;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.DType;
import org.sdpo.tensor.Tensor;
import org.sdpo.transformer.CausalLm;
import org.sdpo.transformer.io.Checkpoint;
import org.sdpo.transformer.io.Safetensors;

/**
 * {@code ./sdpo audit sdpo}: scores one attempt and writes what another framework can check.
 *
 * <p>The case file holds {@code student_input_ids} (prompt + response ids), {@code
 * teacher_input_ids} (teacher context + the same response ids), {@code response_length} n (the
 * response is the last n ids of both) and {@code loss}: {@code {"alpha", "top_k" (or null),
 * "add_tail", "mode": "logit" | "sampled_token", "temperature"}}. The output holds {@code
 * student_logprobs} and {@code teacher_logprobs} [n, V] (log-softmax of the temperature-scaled
 * logits at the positions that predict the response tokens), {@code token_loss} [n], {@code loss}
 * (their mean) and {@code grad.NAME} for every student parameter; the teacher defaults to the same
 * weights, under stop-gradient.
 */
public final class SdpoAudit {
  private SdpoAudit() {}

  /** A parsed case file. */
  public record Case(int[] student, int[] teacher, int n, DistillConfig loss) {}

  public static Case read(Path file) throws IOException {
    JsonNode c = org.sdpo.transformer.io.TextFiles.readTree(new ObjectMapper(), file, "JSON");
    if (c == null || !c.isObject()) {
      throw new IllegalArgumentException(file + ": expected a JSON object");
    }
    int[] s = ids(file, c, "student_input_ids");
    int[] t = ids(file, c, "teacher_input_ids");
    JsonNode nn = c.get("response_length");
    if (nn == null || !nn.canConvertToInt() || nn.asInt() < 1) {
      throw new IllegalArgumentException(file + ": \"response_length\" must be an integer >= 1");
    }
    int n = nn.asInt();
    if (n >= s.length || n >= t.length) {
      throw new IllegalArgumentException(file + ": response_length " + n + " leaves no context in "
          + "student_input_ids (" + s.length + ") or teacher_input_ids (" + t.length + ")");
    }
    if (!Arrays.equals(Arrays.copyOfRange(s, s.length - n, s.length),
        Arrays.copyOfRange(t, t.length - n, t.length))) {
      throw new IllegalArgumentException(file + ": the last " + n
          + " ids of student_input_ids and teacher_input_ids differ; both must end with the response");
    }
    JsonNode l = c.get("loss");
    if (l == null || !l.isObject()) {
      throw new IllegalArgumentException(file + ": missing \"loss\" object");
    }
    String mode = l.path("mode").asText("logit");
    if (!mode.equals("logit") && !mode.equals("sampled_token")) {
      throw new IllegalArgumentException(file + ": loss.mode must be logit or sampled_token, got "
          + mode);
    }
    Integer topK = l.hasNonNull("top_k") ? l.get("top_k").asInt() : null;
    try {
      DistillConfig dc = new DistillConfig(l.path("alpha").asDouble(1.0), topK,
          l.path("add_tail").asBoolean(true), mode.equals("logit") ? DistillConfig.Mode.LOGIT
              : DistillConfig.Mode.SAMPLED_TOKEN, l.path("temperature").asDouble(1.0), null, null,
          DistillConfig.Aggregation.TOKEN_MEAN);
      return new Case(s, t, n, dc);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(file + ": loss: " + e.getMessage(), e);
    }
  }

  private static int[] ids(Path file, JsonNode c, String key) {
    JsonNode a = c.get(key);
    if (a == null || !a.isArray() || a.size() == 0) {
      throw new IllegalArgumentException(file + ": \"" + key + "\" must be a non-empty list of ints");
    }
    int[] out = new int[a.size()];
    for (int i = 0; i < out.length; i++) {
      if (!a.get(i).canConvertToInt()) {
        throw new IllegalArgumentException(file + ": \"" + key + "\"[" + i + "] is not an integer");
      }
      out[i] = a.get(i).asInt();
    }
    return out;
  }

  /** Runs the case; the teacher may be the student itself (it is then used under no-grad). */
  public static Map<String, Tensor> run(CausalLm student, CausalLm teacher, Case c) {
    int n = c.n();
    Scoring.Sequence ss = new Scoring.Sequence(Arrays.copyOf(c.student(), c.student().length - n),
        Arrays.copyOfRange(c.student(), c.student().length - n, c.student().length));
    Scoring.Sequence ts = new Scoring.Sequence(Arrays.copyOf(c.teacher(), c.teacher().length - n),
        ss.response());
    Tensor teacherLogits = Scoring.responseLogitsNoGrad(teacher, List.of(ts)); // (n, V)
    Variable studentLogits = Scoring.responseLogits(student, List.of(ss)); // (n, V)
    double[] ones = new double[n];
    Arrays.fill(ones, 1);
    DistillationLoss.Targets targets = new DistillationLoss.Targets(ss.response(), new int[n], 1,
        ones, null, null);
    DistillationLoss.Result r = DistillationLoss.compute(studentLogits, teacherLogits, targets,
        c.loss());
    student.zeroGrad();
    r.loss().backward();
    Map<String, Tensor> out = new LinkedHashMap<>();
    out.put("student_logprobs", r.studentLogprobs());
    out.put("teacher_logprobs", r.teacherLogprobs());
    out.put("token_loss", r.tokenLoss());
    out.put("loss", r.loss().value());
    student.namedParameters().forEach((name, p) -> out.put("grad." + name,
        p.grad() != null ? p.grad() : Tensor.zeros(p.dtype(), p.shape())));
    return out;
  }

  /** Loads, runs and writes; returns the loss. */
  public static double run(Path model, Path teacherDir, Path caseFile, Path out, DType dtype)
      throws IOException {
    CausalLm student = Checkpoint.load(model, dtype);
    CausalLm teacher = teacherDir == null ? student : Checkpoint.load(teacherDir, dtype);
    if (teacher.config().vocabSize() != student.config().vocabSize()) {
      throw new IllegalArgumentException("teacher vocabulary (" + teacher.config().vocabSize()
          + ") differs from the student's (" + student.config().vocabSize() + ")");
    }
    Map<String, Tensor> result = run(student, teacher, read(caseFile));
    Safetensors.write(out, result, Map.of("producer", "sdpo audit sdpo", "dtype", dtype.name()));
    return result.get("loss").item();
  }
}
