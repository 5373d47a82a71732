package org.sdpo.autograd.fused;

import org.sdpo.autograd.Op;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.Backends;
import org.sdpo.tensor.Fused;
import org.sdpo.tensor.Indices;
import org.sdpo.tensor.Tensor;

/**
 * Mean cross-entropy between softmax(logits) and integer targets, over the rows whose target is
 * not {@code ignoreIndex}: L = -(1/M) sum_{n valid} log softmax(x_n)[t_n], M = number of valid
 * rows. Logits may have any rank &gt;= 2 (rows = every axis but the last). If no row is valid,
 * L = 0 and the gradient is 0. Composed twin: pick(log_softmax(x), t), masked mean, negated.
 */
public final class SoftmaxCrossEntropy extends Op {
  private final Tensor logp;
  private final Indices targets; // uploaded once, for the loss and its gradient
  private final int ignoreIndex;
  private final Tensor stats; // (2) float64: the loss and the number of valid rows
  private final int[] logitsShape;

  private SoftmaxCrossEntropy(
      Tensor logp, Indices targets, int ignoreIndex, Tensor stats, int[] logitsShape) {
    this.logp = logp;
    this.logitsShape = logitsShape;
    this.targets = targets;
    this.ignoreIndex = ignoreIndex;
    this.stats = stats;
  }

  public static Variable apply(Variable logits, int[] targets, int ignoreIndex) {
    Tensor x = logits.value();
    if (x.rank() < 2) {
      throw new IllegalArgumentException("cross_entropy: logits need rank >= 2, got "
          + java.util.Arrays.toString(x.shape()));
    }
    int V = x.dim(-1);
    int rows = (int) (x.numel() / V);
    if (targets.length != rows) {
      throw new IllegalArgumentException("cross_entropy: " + targets.length + " targets for "
          + rows + " rows of logits " + java.util.Arrays.toString(x.shape()));
    }
    Tensor logp = x.reshape(rows, V).logSoftmax();
    Indices t = Backends.current().indices(targets);
    Tensor stats = Fused.crossEntropy(logp, t, ignoreIndex); // (2) float64: mean NLL, valid rows
    Tensor loss = stats.slice(0, 0, 1).reshape().to(x.dtype()); // on the device, no read-back
    return record(new SoftmaxCrossEntropy(logp, t, ignoreIndex, stats, x.shape()), loss, logits);
  }

  @Override
  public String name() {
    return "cross_entropy";
  }

  // dL/dx_n = (softmax(x_n) - onehot(t_n)) / M for valid rows, 0 for ignored ones.
  @Override
  public Tensor[] backward(Tensor g) {
    return new Tensor[] {Fused.crossEntropyBackward(logp, targets, ignoreIndex, g, stats)
        .reshape(logitsShape)};
  }

  /** Cross-entropy with PyTorch's default ignore index, -100. */
  public static Variable apply(Variable logits, int[] targets) {
    return apply(logits, targets, -100);
  }
}
