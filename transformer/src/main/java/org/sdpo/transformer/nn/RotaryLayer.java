package org.sdpo.transformer.nn;

import org.sdpo.autograd.Variable;
import org.sdpo.tensor.Tensor;

/** One layer of a rotary decoder: (B, T, C) in and out, given the positions' cos and sin. */
public interface RotaryLayer {
  /**
   * @param cos (B, T, D/2) of the tokens' rotary angles
   * @param sin (B, T, D/2)
   * @param keyMask (B, Tk) or null
   * @param cache the KV cache, or null
   */
  Variable forward(Variable x, Tensor cos, Tensor sin, Tensor keyMask, KvCache cache);
}
