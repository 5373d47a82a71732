package org.sdpo.transformer.train;

import java.util.Collection;
import org.sdpo.autograd.F;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.Backend;
import org.sdpo.tensor.CapturedStep;
import org.sdpo.tensor.Tensor;
import org.sdpo.transformer.CausalLm;

/**
 * A language-model update of fixed shapes recorded once and replayed (on a GPU, CUDA graphs): the
 * forward and backward passes of {@code accum} micro-batches of (B, T) ids and targets and the
 * gradient clipping as one recording; AdamW's update and the zeroing of the gradients as a second;
 * the zeroing alone as a third. Between the first and the others the host reads the norm, as a
 * step run kernel by kernel does: a non-finite norm skips the update, and AdamW's step counter
 * only counts updates made.
 *
 * <p>The gradients must exist before recording (run one step kernel by kernel first): every replay
 * then accumulates into them as every step after the first does, so replays compute what steps
 * run kernel by kernel compute, bit for bit. The caller refills the ids and targets it gave in
 * place before each {@link #run}.
 */
public final class RecordedUpdate implements AutoCloseable {
  private final Tensor[] losses;
  private final Tensor[] norm = new Tensor[1];
  private final AdamW opt;
  private final CapturedStep gradients;
  private final CapturedStep update;
  private final CapturedStep zero;

  /** What one run measured: the micro-batches' losses summed in order, and the norm. */
  public record Result(double lossSum, double norm) {}

  /** Whether every parameter has its gradient: the condition for recording. */
  public static boolean canRecord(CausalLm model) {
    return model.namedParameters().values().stream().allMatch(p -> p.grad() != null);
  }

  /**
   * The forward and backward passes of one update: for each micro-batch a, the mean
   * cross-entropy of ids x[a] against targets y[a] (B*T each, -100 ignored), its gradient scaled
   * by 1 / the number of micro-batches and added to the parameters' gradients. Returns the
   * micro-batches' losses. What the first recording holds; pre-training runs it kernel by kernel
   * for its first step.
   */
  public static Tensor[] accumulateGradients(CausalLm model, int[][] x, int[][] y, int B,
      int T) {
    Tensor[] losses = new Tensor[x.length];
    for (int a = 0; a < x.length; a++) {
      Variable loss = F.crossEntropy(F.reshape(model.forward(x[a], B, T), B * T, -1), y[a], -100);
      losses[a] = loss.value();
      F.scale(loss, 1.0 / x.length).backward();
    }
    return losses;
  }

  /**
   * Records the update of the micro-batches x[a], y[a] ((B*T) ids and targets each), which the
   * caller refills in place before every {@link #run}.
   */
  public RecordedUpdate(Backend backend, CausalLm model, AdamW opt, int[][] x, int[][] y, int B,
      int T, double gradClip) {
    Collection<Variable> params = model.namedParameters().values();
    if (!canRecord(model)) {
      throw new IllegalStateException("recorded update: parameter gradients must exist before "
          + "recording (run one step kernel by kernel first)");
    }
    this.opt = opt;
    this.losses = new Tensor[x.length];
    CapturedStep g = backend.captureStep(() -> {
      Tensor[] l = accumulateGradients(model, x, y, B, T);
      System.arraycopy(l, 0, losses, 0, l.length);
      norm[0] = GradClip.clipOnDevice(params, gradClip);
    });
    CapturedStep u = null;
    try {
      u = backend.captureStep(() -> {
        opt.apply();
        model.zeroGrad();
      });
      this.zero = backend.captureStep(model::zeroGrad);
    } catch (RuntimeException e) {
      g.close();
      if (u != null) {
        u.close();
      }
      throw e;
    }
    this.gradients = g;
    this.update = u;
  }

  /** One update with learning rate {@code lr} from the ids and targets in x and y. */
  public Result run(double lr) {
    gradients.replay();
    double n = norm[0].item(); // waits for the gradients
    double lossSum = 0;
    for (Tensor l : losses) {
      lossSum += l.item();
    }
    if (Double.isFinite(n)) {
      opt.prepare(lr);
      update.replay();
    } else {
      zero.replay();
    }
    return new Result(lossSum, n);
  }

  /** Kernel launches one run replays (its three recordings hold these; one run uses two). */
  public int launches() {
    return gradients.launches() + update.launches();
  }

  @Override
  public void close() {
    gradients.close();
    update.close();
    zero.close();
  }
}
