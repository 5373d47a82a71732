package org.sdpo.core;

import java.util.Map;
import org.sdpo.autograd.Grad;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.Fused;
import org.sdpo.tensor.Tensor;
import org.sdpo.transformer.CausalLm;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The self-teacher's weights (reference doc §2). The teacher never receives gradients: its logits
 * are computed with recording off and handed to the loss as constants.
 *
 * <ul>
 *   <li>EMA (default): a separate copy, updated once per training step as theta_T = (1 - tau)
 *       theta_T + tau theta_S (tau = {@code teacher_update_rate}, 0.05).
 *   <li>TRUST_REGION: logits (1 - tau) z_initial + tau z_current on the teacher context, the
 *       initial model frozen.
 *   <li>FROZEN: the initial model (EMA with tau = 0).
 *   <li>LIVE: the current student itself; for ablations only (the paper found it unstable).
 * </ul>
 */
public final class Teacher {
  private static final Logger LOG = LoggerFactory.getLogger(Teacher.class);

  /** Which weights the teacher uses. */
  public enum Kind {
    EMA,
    TRUST_REGION,
    FROZEN,
    LIVE
  }

  private final Kind kind;
  private final CausalLm student;
  private final CausalLm copy; // EMA weights, or the frozen initial model
  private final double rate;

  private Teacher(Kind kind, CausalLm student, CausalLm copy, double rate) {
    this.kind = kind;
    this.student = student;
    this.copy = copy;
    this.rate = rate;
  }

  /** A teacher for {@code student}, starting from the student's current weights. */
  public static Teacher create(Kind kind, CausalLm student, double rate) {
    if (!(rate >= 0 && rate <= 1)) {
      throw new IllegalArgumentException("teacher_update_rate must be in [0, 1], got " + rate);
    }
    if (kind == Kind.LIVE) {
      LOG.warn("teacher = live student: for ablations only; the paper found training with it "
          + "unstable (it regresses towards the student and ignores the feedback)");
      return new Teacher(kind, student, null, rate);
    }
    return new Teacher(kind, student, student.copy(student.dtype()), rate);
  }

  public Kind kind() {
    return kind;
  }

  /** The teacher's own weights (EMA or frozen copy), or the student's for LIVE. */
  public CausalLm weights() {
    return copy != null ? copy : student;
  }

  /** Teacher logits (B, T, V) for a teacher batch, as a constant (no graph, no gradient). */
  public Tensor logits(int[] ids, int B, int T, Tensor mask, int[] positions) {
    return score(m -> {
      try (Grad.Scope g = Grad.disabled()) {
        return m.forward(ids, B, T, mask, positions, null).value();
      }
    });
  }

  /** Teacher logits at the response positions of scored sequences (N, V), no gradient. */
  public Tensor responseLogits(java.util.List<Scoring.Sequence> seqs) {
    return responseLogits(seqs, Scoring.DEFAULT_PAD_MULTIPLE);
  }

  /** The same, the batch padded to a multiple of {@code padMultiple} ({@link Scoring}). */
  public Tensor responseLogits(java.util.List<Scoring.Sequence> seqs, int padMultiple) {
    return score(m -> Scoring.responseLogitsNoGrad(m, seqs, padMultiple));
  }

  /**
   * The teacher at the response positions of scored sequences, as hidden states (N, C) whose
   * logits are made a few rows at a time ({@link Rows#logits}): an update in chunks never holds
   * the teacher's (N, V) logits. The head's weights are those of now: with {@code
   * studentMovesMeanwhile} (optimizer steps before the last rows are read: several mini-batches),
   * a teacher that reads the student's head (LIVE, TRUST_REGION) keeps a copy of it.
   */
  public Rows responseRows(java.util.List<Scoring.Sequence> seqs, int padMultiple,
      boolean studentMovesMeanwhile) {
    boolean readsStudent = kind == Kind.LIVE || kind == Kind.TRUST_REGION;
    Tensor studentHead = !readsStudent ? null : studentMovesMeanwhile
        ? student.headWeight().value().detach() : student.headWeight().value();
    switch (kind) {
      case LIVE:
        return new Rows(Scoring.responseHiddenNoGrad(student, seqs, padMultiple), studentHead,
            null, null, 0);
      case TRUST_REGION:
        return new Rows(Scoring.responseHiddenNoGrad(copy, seqs, padMultiple),
            copy.headWeight().value(), Scoring.responseHiddenNoGrad(student, seqs, padMultiple),
            studentHead, rate);
      default:
        return new Rows(Scoring.responseHiddenNoGrad(copy, seqs, padMultiple),
            copy.headWeight().value(), null, null, 0);
    }
  }

  /**
   * The teacher's response rows: hidden states {@code h} (N, C) and head {@code w} (V, C) of its
   * weights, and for TRUST_REGION those of the current student too ({@code h2}, {@code w2},
   * mixed with {@code rate}).
   */
  public record Rows(Tensor h, Tensor w, Tensor h2, Tensor w2, double rate) {
    /** The teacher's logits (n, V) at the given rows of the N, a constant. */
    public Tensor logits(int[] rows) {
      Tensor z = h.gatherRows(rows, rows.length).matmul(w, false, true); // (n, V)
      if (h2 == null) {
        return z;
      }
      Tensor cur = h2.gatherRows(rows, rows.length).matmul(w2, false, true);
      return z.mul(1 - rate).add(cur.mul(rate)); // (1 - tau) z_initial + tau z_current
    }
  }

  /** The teacher's logits from a scoring function of a model, by kind. */
  private Tensor score(java.util.function.Function<CausalLm, Tensor> logitsOf) {
    switch (kind) {
      case LIVE:
        return logitsOf.apply(student);
      case TRUST_REGION: {
        Tensor ref = logitsOf.apply(copy);
        Tensor cur = logitsOf.apply(student);
        return ref.mul(1 - rate).add(cur.mul(rate)); // (1 - tau) z_initial + tau z_current
      }
      default:
        return logitsOf.apply(copy);
    }
  }

  /**
   * The once-per-training-step update: EMA moves towards the student (skipped when no optimizer
   * step was taken); the other kinds do not change.
   */
  public void update(boolean stepTaken) {
    if (kind != Kind.EMA || !stepTaken || rate == 0) {
      return;
    }
    Map<String, Variable> s = student.namedParameters();
    for (Map.Entry<String, Variable> e : copy.namedParameters().entrySet()) {
      // theta_T = (1 - tau) theta_T + tau theta_S
      Fused.ema(e.getValue().value(), s.get(e.getKey()).value(), rate);
    }
  }
}
