package org.sdpo.transformer.nn;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.Fused;
import org.sdpo.tensor.Tensor;

/**
 * A layer: named parameters and named child layers, in insertion order, so the full names
 * ({@code h.0.attn.c_attn.weight}) are exactly the GPT-2 checkpoint keys.
 */
public abstract class Module {
  private final Map<String, Variable> params = new LinkedHashMap<>();
  private final Map<String, Module> children = new LinkedHashMap<>();

  /** Registers a trainable parameter under {@code name}. */
  protected final Variable param(String name, Tensor init) {
    Variable v = Variable.param(init, name);
    params.put(name, v);
    return v;
  }

  /** Registers a child layer under {@code name}. */
  protected final <M extends Module> M child(String name, M module) {
    children.put(name, module);
    return module;
  }

  /** Every parameter of this layer and its children, by full dotted name, in order. */
  public final Map<String, Variable> namedParameters() {
    Map<String, Variable> out = new LinkedHashMap<>();
    collect("", out);
    return out;
  }

  private void collect(String prefix, Map<String, Variable> out) {
    params.forEach((n, v) -> out.put(prefix + n, v));
    children.forEach((n, m) -> m.collect(prefix + n + ".", out));
  }

  /** Zeroes every parameter's gradient (keeping its memory), in one backend call. */
  public final void zeroGrad() {
    List<Tensor> grads = new ArrayList<>();
    for (Variable p : namedParameters().values()) {
      if (p.grad() != null) {
        grads.add(p.grad());
      }
    }
    Fused.fill(grads, 0);
  }
}
