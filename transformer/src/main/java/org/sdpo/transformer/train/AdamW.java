package org.sdpo.transformer.train;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.DType;
import org.sdpo.tensor.Fused;
import org.sdpo.tensor.Tensor;
import org.sdpo.tensor.Workspace;

/**
 * AdamW (Loshchilov and Hutter): Adam with bias correction and decoupled weight decay,
 *
 * <pre>
 *   m = b1 m + (1 - b1) g          v = b2 v + (1 - b2) g^2
 *   p = p - lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps) - lr wd p
 * </pre>
 *
 * Weight decay applies to matrices only (rank &gt;= 2: embeddings and projections), not to biases
 * and LayerNorm parameters, as in GPT-2 training. One fused pass per parameter, in place; the
 * moments live outside any workspace scope and are allocated once.
 *
 * <p>A step has a host half and a device half: {@link #prepare} counts the step and writes the
 * learning rate and the bias corrections into a small tensor, {@link #apply} runs the updates,
 * which read them from there. {@link #step} does both; a recorded training step (a CUDA graph)
 * records {@code apply} and calls {@code prepare} before each replay.
 */
public final class AdamW {
  /** Hyper-parameters: betas, epsilon and the decoupled weight decay. */
  public record Settings(double beta1, double beta2, double eps, double weightDecay) {
    public Settings {
      if (!(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1)) {
        throw new IllegalArgumentException("adamw: betas must be in [0, 1), got " + beta1 + ", "
            + beta2);
      }
      if (!(eps > 0) || !(weightDecay >= 0)) {
        throw new IllegalArgumentException("adamw: eps must be > 0 and weight_decay >= 0");
      }
    }

    public static Settings gpt() {
      return new Settings(0.9, 0.95, 1e-8, 0.1);
    }
  }

  private final Map<String, Variable> params;
  private final Settings s;
  private final Map<String, Tensor> m = new LinkedHashMap<>();
  private final Map<String, Tensor> v = new LinkedHashMap<>();
  private final Tensor stepValues; // (3) float64 {lr, bc1, bc2}, read by the update kernels
  private final double[] hostValues = new double[3];
  private long t;

  public AdamW(Map<String, Variable> params, Settings settings) {
    this.params = params;
    this.s = settings;
    this.stepValues = Workspace.persistent(() -> {
      params.forEach((n, p) -> {
        m.put(n, Tensor.zeros(p.dtype(), p.shape()));
        v.put(n, Tensor.zeros(p.dtype(), p.shape()));
      });
      return Tensor.zeros(DType.FLOAT64, 3);
    });
  }

  /** Steps taken so far. */
  public long steps() {
    return t;
  }

  /** One update with learning rate {@code lr}; parameters without a gradient are left alone. */
  public void step(double lr) {
    prepare(lr);
    apply();
  }

  /**
   * The host half of a step: counts it and writes lr and the bias corrections 1 - beta^t where
   * {@link #apply} reads them (one small copy to a device).
   */
  public void prepare(double lr) {
    t++;
    double bc1 = 1 - Math.pow(s.beta1(), t);
    double bc2 = 1 - Math.pow(s.beta2(), t);
    hostValues[0] = lr;
    hostValues[1] = bc1;
    hostValues[2] = bc2;
    stepValues.write(0, hostValues, 3);
  }

  /**
   * The device half of a step: the fused update of every parameter with a gradient, in one call
   * (one launch on a GPU), reading lr and the bias corrections that {@link #prepare} wrote.
   */
  public void apply() {
    List<Tensor> ps = new ArrayList<>(params.size());
    List<Tensor> gs = new ArrayList<>(params.size());
    List<Tensor> ms = new ArrayList<>(params.size());
    List<Tensor> vs = new ArrayList<>(params.size());
    double[] wds = new double[params.size()];
    for (Map.Entry<String, Variable> e : params.entrySet()) {
      Variable p = e.getValue();
      if (p.grad() == null) {
        continue;
      }
      wds[ps.size()] = p.value().rank() >= 2 ? s.weightDecay() : 0;
      ps.add(p.value());
      gs.add(p.grad());
      ms.add(m.get(e.getKey()));
      vs.add(v.get(e.getKey()));
    }
    // for each: m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
    // p -= lr (m / bc1) / (sqrt(v / bc2) + eps) + lr wd p
    Fused.adamw(ps, gs, ms, vs, stepValues, s.beta1(), s.beta2(), s.eps(),
        Arrays.copyOf(wds, ps.size()));
  }

  /** The optimizer state for a checkpoint: step count, first and second moments by name. */
  public Map<String, Tensor> state() {
    Map<String, Tensor> st = new LinkedHashMap<>();
    m.forEach((n, x) -> st.put("m." + n, x));
    v.forEach((n, x) -> st.put("v." + n, x));
    return st;
  }

  public void loadState(Map<String, Tensor> st, long step) {
    m.forEach((n, x) -> x.assign(require(st, "m." + n)));
    v.forEach((n, x) -> x.assign(require(st, "v." + n)));
    this.t = step;
  }

  private static Tensor require(Map<String, Tensor> st, String key) {
    Tensor x = st.get(key);
    if (x == null) {
      throw new IllegalArgumentException("optimizer state lacks '" + key + "'");
    }
    return x;
  }
}
