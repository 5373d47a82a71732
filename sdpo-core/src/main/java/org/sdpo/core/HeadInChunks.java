package org.sdpo.core;

import org.sdpo.autograd.Variable;
import org.sdpo.tensor.Tensor;
import org.sdpo.tensor.Workspace;
import org.sdpo.transformer.CausalLm;

/**
 * A loss that sums over response rows, computed from the model's last hidden states a chunk of
 * rows at a time, so that no (N, V) tensor exists: per chunk, the head's logits (rows, V) of the
 * chunk's hidden states, the chunk's loss and its backward (into the head's gradient and the
 * chunk's rows of dL/dh); then one backward of dL/dh through the rest of the model. The gradient
 * is the whole loss's, up to how the head's gradient groups its sums.
 */
final class HeadInChunks {
  private HeadInChunks() {}

  /** One chunk's work on its logits z (rows [from, to)): its loss, backward done; the loss. */
  interface Chunk {
    double run(Variable z, int from, int to);
  }

  /**
   * Runs {@code chunk} on rows of {@code h} (N, C), {@code rows} at a time, each in a workspace
   * scope of its own (its (rows, V) buffers serve the next chunk), then backpropagates the hidden
   * states' gradient; returns the sum of the chunks' losses.
   */
  static double backward(CausalLm model, Variable h, int rows, Chunk chunk) {
    Tensor dh = Tensor.zeros(h.dtype(), h.shape()); // dL/dh (N, C), filled chunk by chunk
    double loss = 0;
    int n = h.dim(0);
    for (int a = 0; a < n; a += rows) {
      int e = Math.min(n, a + rows);
      try (Workspace.Scope cs = Workspace.nested()) {
        Variable hc = Variable.gradientInto(h.value().slice(0, a, e), dh.slice(0, a, e));
        loss += chunk.run(model.head(hc), a, e); // z: (e - a, V)
      }
    }
    h.backward(dh); // the rest of the model, once
    return loss;
  }
}
