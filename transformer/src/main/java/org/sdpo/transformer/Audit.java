package org.sdpo.transformer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.sdpo.autograd.F;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.DType;
import org.sdpo.tensor.Tensor;
import org.sdpo.transformer.io.Checkpoint;
import org.sdpo.transformer.io.Safetensors;

/**
 * The gradient audit: one forward and backward of a checkpoint on a batch file, written so another
 * framework can be compared with it. The batch file holds {@code input_ids} (list of lists of
 * ints), optional {@code attention_mask} and {@code position_ids} of the same shape (position ids
 * default to 0..T-1), and {@code labels} (same shape, already aligned: labels[b][t] is the target
 * of position t; -100 is ignored). The loss is the mean cross-entropy over the labels that are not
 * ignored. The output holds {@code logits} [B, T, V], {@code loss} (a scalar) and {@code grad.NAME}
 * for every parameter (the tied embedding's gradient once, under {@code wte.weight}), in the dtype
 * of the run.
 */
public final class Audit {
  private Audit() {}

  /** A parsed batch file. */
  public record Batch(int B, int T, int[] ids, double[] mask, int[] positions, int[] labels) {}

  /** Reads and validates a batch file; errors name the file and the key. */
  public static Batch readBatch(Path file) throws IOException {
    JsonNode n = org.sdpo.transformer.io.TextFiles.readTree(new ObjectMapper(), file, "JSON");
    if (n == null || !n.isObject()) {
      throw new IllegalArgumentException(file + ": expected a JSON object with input_ids and labels");
    }
    int[][] ids = matrix(file, n, "input_ids", null);
    if (ids == null) {
      throw new IllegalArgumentException(file + ": missing \"input_ids\"");
    }
    int B = ids.length;
    int T = ids[0].length;
    int[][] labels = matrix(file, n, "labels", ids);
    if (labels == null) {
      throw new IllegalArgumentException(file + ": missing \"labels\"");
    }
    int[][] mask = matrix(file, n, "attention_mask", ids);
    int[][] pos = matrix(file, n, "position_ids", ids);
    int[] flatIds = new int[B * T];
    double[] flatMask = new double[B * T];
    int[] flatPos = new int[B * T];
    int[] flatLabels = new int[B * T];
    for (int b = 0; b < B; b++) {
      for (int t = 0; t < T; t++) {
        int i = b * T + t;
        flatIds[i] = ids[b][t];
        flatLabels[i] = labels[b][t];
        flatPos[i] = pos == null ? t : pos[b][t];
        int m = mask == null ? 1 : mask[b][t];
        if (m != 0 && m != 1) {
          throw new IllegalArgumentException(file + ": attention_mask[" + b + "][" + t
              + "] is " + m + "; use 1 for a token and 0 for padding");
        }
        flatMask[i] = m;
      }
    }
    return new Batch(B, T, flatIds, flatMask, flatPos, flatLabels);
  }

  private static int[][] matrix(Path file, JsonNode n, String key, int[][] like) {
    JsonNode a = n.get(key);
    if (a == null || a.isNull()) {
      return null;
    }
    if (!a.isArray() || a.size() == 0) {
      throw new IllegalArgumentException(file + ": \"" + key + "\" must be a non-empty list of lists");
    }
    int[][] m = new int[a.size()][];
    for (int b = 0; b < a.size(); b++) {
      JsonNode row = a.get(b);
      if (!row.isArray() || row.size() == 0) {
        throw new IllegalArgumentException(file + ": \"" + key + "\"[" + b
            + "] must be a non-empty list of integers");
      }
      int T = like != null ? like[0].length : a.get(0).size();
      if (row.size() != T) {
        throw new IllegalArgumentException(file + ": \"" + key + "\"[" + b + "] has " + row.size()
            + " entries, expected " + T + (like != null ? " (the shape of input_ids)" : ""));
      }
      m[b] = new int[T];
      for (int t = 0; t < T; t++) {
        if (!row.get(t).canConvertToInt()) {
          throw new IllegalArgumentException(file + ": \"" + key + "\"[" + b + "][" + t
              + "] is not an integer: " + row.get(t));
        }
        m[b][t] = row.get(t).asInt();
      }
    }
    if (like != null && m.length != like.length) {
      throw new IllegalArgumentException(file + ": \"" + key + "\" has " + m.length
          + " rows, expected " + like.length + " (the shape of input_ids)");
    }
    return m;
  }

  /** Runs the audit and returns the named output tensors. */
  public static Map<String, Tensor> run(CausalLm model, Batch b) {
    Tensor mask = Tensor.of(model.dtype(), b.mask(), b.B(), b.T());
    Variable logits = model.forward(b.ids(), b.B(), b.T(), mask, b.positions(), null);
    int V = model.config().vocabSize();
    for (int l : b.labels()) {
      if (l != -100 && (l < 0 || l >= V)) {
        throw new IllegalArgumentException("labels: " + l + " is outside the vocabulary [0, " + V
            + ") and is not -100");
      }
    }
    Variable loss = F.crossEntropy(F.reshape(logits, b.B() * b.T(), V), b.labels(), -100);
    model.zeroGrad();
    loss.backward();
    Map<String, Tensor> out = new LinkedHashMap<>();
    out.put("logits", logits.value());
    out.put("loss", loss.value());
    model.namedParameters().forEach((n, p) -> out.put("grad." + n,
        p.grad() != null ? p.grad() : Tensor.zeros(p.dtype(), p.shape())));
    return out;
  }

  /** Loads the checkpoint, runs the audit, writes the output file; returns the loss. */
  public static double run(Path modelDir, Path batchFile, Path out, DType dtype) throws IOException {
    CausalLm model = Checkpoint.load(modelDir, dtype);
    Map<String, Tensor> result = run(model, readBatch(batchFile));
    Safetensors.write(out, result, Map.of("producer", "sdpo audit model", "dtype", dtype.name()));
    return result.get("loss").item();
  }
}
