package org.sdpo.autograd;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.sdpo.tensor.Tensor;

/**
 * Reverse-mode differentiation: a deterministic topological order of the graph (iterative
 * depth-first search, inputs in order, so deep graphs cannot overflow the stack and results are
 * the same bit for bit on every run), then one backward call per op from the output towards the
 * leaves, summing the gradients of a variable used several times. The graph is freed afterwards.
 */
final class Backprop {
  private Backprop() {}

  static void run(Variable root, Tensor seed) {
    if (!Arrays.equals(seed.shape(), root.shape())) {
      throw new IllegalArgumentException("backward: gradient of shape "
          + Arrays.toString(seed.shape()) + " for an output of shape "
          + Arrays.toString(root.shape()));
    }
    if (!root.requiresGrad()) {
      throw new IllegalArgumentException(
          "backward: the output does not depend on any variable that requires a gradient");
    }
    if (root.graphFreed()) {
      throw new IllegalStateException("backward: the graph of this output was already freed by an"
          + " earlier backward; run the forward again");
    }
    List<Variable> order = topologicalOrder(root);
    Map<Variable, Tensor> pending = new IdentityHashMap<>();
    Set<Tensor> owned = Collections.newSetFromMap(new IdentityHashMap<>());
    pending.put(root, seed);
    boolean anomaly = Anomaly.isEnabled();
    for (int n = order.size() - 1; n >= 0; n--) {
      Variable v = order.get(n);
      Tensor g = pending.remove(v);
      if (g == null) {
        continue;
      }
      if (v.keepsGrad()) {
        v.accumulate(g);
      }
      Op op = v.creator;
      if (op == null) {
        continue;
      }
      Tensor[] grads = op.backward(g);
      Variable[] inputs = v.inputs;
      for (int i = 0; i < inputs.length; i++) {
        Variable in = inputs[i];
        if (!in.requiresGrad()) {
          continue;
        }
        Tensor gi = grads[i];
        if (gi == null) {
          throw new IllegalStateException("backward of op '" + op.name()
              + "' returned no gradient for input " + i);
        }
        if (!Arrays.equals(gi.shape(), in.shape())) {
          throw new IllegalStateException("backward of op '" + op.name() + "' returned a gradient of shape "
              + Arrays.toString(gi.shape()) + " for input " + i + " of shape "
              + Arrays.toString(in.shape()));
        }
        if (anomaly) {
          Anomaly.checkBackward(op, i, gi);
        }
        Tensor prev = pending.get(in);
        if (prev == null) {
          pending.put(in, gi);
        } else if (owned.contains(prev)) {
          prev.addInPlace(gi);
        } else {
          Tensor sum = prev.add(gi);
          owned.add(sum);
          pending.put(in, sum);
        }
      }
    }
    for (Variable v : order) {
      v.creator = null;
      v.inputs = null;
    }
  }

  /** Post-order: every variable after all of its inputs. */
  static List<Variable> topologicalOrder(Variable root) {
    List<Variable> order = new ArrayList<>();
    Set<Variable> visited = Collections.newSetFromMap(new IdentityHashMap<>());
    ArrayDeque<Variable> stack = new ArrayDeque<>();
    ArrayDeque<Integer> next = new ArrayDeque<>();
    stack.push(root);
    next.push(0);
    visited.add(root);
    while (!stack.isEmpty()) {
      Variable v = stack.peek();
      int i = next.pop();
      Variable[] inputs = v.creator == null ? null : v.inputs;
      if (inputs != null && i < inputs.length) {
        next.push(i + 1);
        Variable in = inputs[i];
        if (in.requiresGrad() && visited.add(in)) {
          stack.push(in);
          next.push(0);
        }
      } else {
        stack.pop();
        order.add(v);
      }
    }
    return order;
  }
}
