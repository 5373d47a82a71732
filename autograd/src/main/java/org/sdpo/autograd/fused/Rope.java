package org.sdpo.autograd.fused;

import org.sdpo.autograd.Op;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.Fused;
import org.sdpo.tensor.Tensor;

/**
 * Rotary position embedding in the rotate-half layout of Llama, Qwen2 and Qwen3
 * ({@code apply_rotary_pos_emb}): the head vector's two halves x1 = x[:D/2], x2 = x[D/2:] are
 * rotated pairwise by the angle of their position and frequency,
 *
 * <pre>
 *   y1 = x1 cos - x2 sin
 *   y2 = x2 cos + x1 sin        i.e. y = x cos + rotate_half(x) sin, rotate_half(x) = [-x2, x1]
 * </pre>
 *
 * x is (B, H, T, D); cos and sin are (B, T, D/2), one row per token (gathered at its position id
 * by the caller) and constants. One backend kernel each way ({@code Fused.rope}). Composed twin:
 * slice, mul, sub, add, concat.
 */
public final class Rope extends Op {
  private final Tensor cos;
  private final Tensor sin;

  private Rope(Tensor cos, Tensor sin) {
    this.cos = cos;
    this.sin = sin;
  }

  public static Variable apply(Variable x, Tensor cos, Tensor sin) {
    Tensor c = cos.contiguous();
    Tensor sn = sin.contiguous();
    return record(new Rope(c, sn), Fused.rope(x.value(), c, sn, 1), x);
  }

  @Override
  public String name() {
    return "rope";
  }

  /*
   * y = R x with R a rotation per pair, so dx = Rᵀ dy: the same pairs rotated by -angle,
   *   dx1 = dy1 cos + dy2 sin,   dx2 = dy2 cos - dy1 sin.
   */
  @Override
  public Tensor[] backward(Tensor g) {
    return new Tensor[] {Fused.rope(g, cos, sin, -1)};
  }
}
