package org.sdpo.core;

import java.util.List;
import org.sdpo.autograd.F;
import org.sdpo.autograd.Grad;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.Tensor;
import org.sdpo.transformer.CausalLm;

/**
 * Scores fixed responses after given contexts in one batched forward: each sequence is context ++
 * response, left-padded to the longest, with an attention mask and position ids that skip the
 * pads; the logits that predict each response token (position c + k - 1 for response token k) are
 * gathered into one (N, V) matrix, N the total number of response tokens. The student scores the
 * prompt's context, the teacher the feedback-augmented one: the same response tokens either way.
 */
public final class Scoring {
  private Scoring() {}

  /** Context ids, then the exact response ids to score. */
  public record Sequence(int[] context, int[] response) {
    public Sequence {
      if (context.length == 0) {
        throw new IllegalArgumentException("scoring: a context needs at least one token");
      }
    }
  }

  /**
   * The padded length's default multiple: the one every recorded run used. Batches of similar
   * lengths then have the same shapes from step to step, so a workspace reuses their buffers;
   * a smaller multiple computes fewer pad positions (results then differ in their last bits:
   * fewer pad rows change how the products and row reductions group their sums).
   */
  public static final int DEFAULT_PAD_MULTIPLE = 32;

  /** Response-position logits (N, V), recorded for backward when grad mode is on. */
  public static Variable responseLogits(CausalLm model, List<Sequence> seqs) {
    return responseLogits(model, seqs, DEFAULT_PAD_MULTIPLE);
  }

  /**
   * The same with the padded length rounded up to a multiple of {@code padMultiple} (at most
   * the model's context).
   */
  public static Variable responseLogits(CausalLm model, List<Sequence> seqs, int padMultiple) {
    Batch b = Batch.of(model, seqs, padMultiple);
    Variable logits = model.forward(b.ids(), b.B(), b.L(), b.mask(), b.pos(), null);
    int V = model.config().vocabSize();
    return F.embedding(F.reshape(logits, b.B() * b.L(), V), b.rows(), b.rows().length); // (N, V)
  }

  /**
   * The last hidden states (N, C) at the same positions, recorded for backward when grad mode is
   * on: the response-position logits are {@code model.head} of them, made for as many rows at a
   * time as the caller wants (an update in chunks), never (B L, V) at once. In floating point
   * they are the same numbers as {@link #responseLogits} only up to how the products group
   * their sums.
   */
  public static Variable responseHidden(CausalLm model, List<Sequence> seqs, int padMultiple) {
    Batch b = Batch.of(model, seqs, padMultiple);
    Variable x = model.forwardHidden(b.ids(), b.B(), b.L(), b.mask(), b.pos()); // (B, L, C)
    int C = x.dim(2);
    return F.embedding(F.reshape(x, b.B() * b.L(), C), b.rows(), b.rows().length); // (N, C)
  }

  /** {@link #responseHidden} without a graph, as a copy that outlives the scoring workspace. */
  public static Tensor responseHiddenNoGrad(CausalLm model, List<Sequence> seqs,
      int padMultiple) {
    try (Grad.Scope g = Grad.disabled();
        org.sdpo.tensor.Workspace.Scope w = workspace().enter()) {
      return responseHidden(model, seqs, padMultiple).value().detach();
    }
  }

  /**
   * Rows of {@code model}'s logits that fit in {@code bytes} (at least one), or all of them
   * ({@code Integer.MAX_VALUE}) for 0.
   */
  public static int chunkRows(CausalLm model, long bytes) {
    if (bytes == 0) {
      return Integer.MAX_VALUE;
    }
    long row = (long) model.config().vocabSize() * model.dtype().bytes();
    return (int) Math.max(1, Math.min(Integer.MAX_VALUE, bytes / row));
  }

  /**
   * log p(y) of every response token of {@code seqs}, in order, at temperature 1 / {@code invT},
   * without a graph: from all rows' logits at once where there are at most {@code chunkRows}
   * rows, else from the last hidden states a chunk of that many rows at a time (no (N, V) tensor;
   * the same numbers up to how the head's product groups its sums).
   */
  public static double[] responseLogprobs(CausalLm model, List<Sequence> seqs, int padMultiple,
      double invT, int chunkRows) {
    int n = seqs.stream().mapToInt(q -> q.response().length).sum();
    int[] tokens = new int[n];
    int r = 0;
    for (Sequence q : seqs) {
      for (int t : q.response()) {
        tokens[r++] = t;
      }
    }
    try (Grad.Scope g = Grad.disabled()) {
      if (n <= chunkRows) {
        return DistillationLoss.scaled(responseLogitsNoGrad(model, seqs, padMultiple), invT)
            .logSoftmax().pick(tokens).toDoubleArray();
      }
      double[] out = new double[n];
      try (org.sdpo.tensor.Workspace.Scope ws = workspace().enter()) {
        Tensor h = responseHidden(model, seqs, padMultiple).value(); // (N, C)
        for (int a = 0; a < n; a += chunkRows) {
          int e = Math.min(n, a + chunkRows);
          try (org.sdpo.tensor.Workspace.Scope cs = org.sdpo.tensor.Workspace.nested()) {
            Tensor z = model.head(Variable.constant(h.slice(0, a, e))).value(); // (e - a, V)
            double[] lp = DistillationLoss.scaled(z, invT).logSoftmax()
                .pick(java.util.Arrays.copyOfRange(tokens, a, e)).toDoubleArray();
            System.arraycopy(lp, 0, out, a, lp.length);
          }
        }
      }
      return out;
    }
  }

  /**
   * A scoring batch: B sequences left-padded to L (a multiple of the pad multiple, at most the
   * model's context), its ids, mask and position ids (B*L), and the N rows of (B*L) that predict
   * the response tokens, in order.
   */
  private record Batch(int B, int L, int[] ids, Tensor mask, int[] pos, int[] rows) {
    static Batch of(CausalLm model, List<Sequence> seqs, int padMultiple) {
      if (padMultiple < 1) {
        throw new IllegalArgumentException("scoring: the pad multiple must be >= 1, got "
            + padMultiple);
      }
      int B = seqs.size();
      int L = 0;
      int N = 0;
      for (Sequence s : seqs) {
        L = Math.max(L, s.context().length + s.response().length);
        N += s.response().length;
      }
      if (L > model.config().nPositions()) {
        throw new IllegalArgumentException("scoring: a context + response of " + L
            + " tokens exceeds " + model.config().nPositionsKey() + " "
            + model.config().nPositions());
      }
      L = Math.min(model.config().nPositions(), (L + padMultiple - 1) / padMultiple * padMultiple);
      int[] ids = new int[B * L];
      double[] mask = new double[B * L];
      int[] pos = new int[B * L];
      int[] rows = new int[N];
      int r = 0;
      for (int b = 0; b < B; b++) {
        Sequence s = seqs.get(b);
        int len = s.context().length + s.response().length;
        int pad = L - len;
        for (int t = 0; t < len; t++) {
          int i = b * L + pad + t;
          ids[i] = t < s.context().length ? s.context()[t] : s.response()[t - s.context().length];
          mask[i] = 1;
          pos[i] = t;
        }
        for (int k = 0; k < s.response().length; k++) {
          rows[r++] = b * L + pad + s.context().length + k - 1; // the position predicting token k
        }
      }
      return new Batch(B, L, ids, Tensor.of(model.dtype(), mask, B, L), pos, rows);
    }
  }

  /**
   * The same without a graph (the teacher's side). Runs in the calling thread's scoring workspace
   * (buffers reused from call to call) and returns a copy that outlives it.
   */
  public static Tensor responseLogitsNoGrad(CausalLm model, List<Sequence> seqs) {
    return responseLogitsNoGrad(model, seqs, DEFAULT_PAD_MULTIPLE);
  }

  /** The same, padded to a multiple of {@code padMultiple}. */
  public static Tensor responseLogitsNoGrad(CausalLm model, List<Sequence> seqs,
      int padMultiple) {
    try (Grad.Scope g = Grad.disabled();
        org.sdpo.tensor.Workspace.Scope w = workspace().enter()) {
      return responseLogits(model, seqs, padMultiple).value().detach();
    }
  }

  /**
   * The calling thread's workspace for scoring and updates (shared with the sampler: the phases
   * run one after another, so the pool holds the largest phase's buffers, not their sum).
   */
  static org.sdpo.tensor.Workspace workspace() {
    return org.sdpo.tensor.Workspace.ofThisThread();
  }
}
