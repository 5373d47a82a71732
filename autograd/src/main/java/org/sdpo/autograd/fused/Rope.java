package org.sdpo.autograd.fused;

import org.sdpo.autograd.Op;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.Buf;
import org.sdpo.tensor.Parallel;
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
 * by the caller) and constants. Composed twin: slice, mul, sub, add, concat.
 */
public final class Rope extends Op {
  private final Tensor cos;
  private final Tensor sin;

  private Rope(Tensor cos, Tensor sin) {
    this.cos = cos;
    this.sin = sin;
  }

  public static Variable apply(Variable x, Tensor cos, Tensor sin) {
    int[] s = x.shape();
    if (s.length != 4 || s[3] % 2 != 0 || cos.rank() != 3 || !java.util.Arrays.equals(cos.shape(),
        sin.shape()) || cos.dim(0) != s[0] || cos.dim(1) != s[2] || cos.dim(2) != s[3] / 2) {
      throw new IllegalArgumentException("rope: expected x (B, H, T, D) with D even and cos, sin"
          + " (B, T, D/2), got x " + java.util.Arrays.toString(s) + ", cos "
          + java.util.Arrays.toString(cos.shape()) + ", sin " + java.util.Arrays.toString(sin.shape()));
    }
    Tensor c = cos.contiguous();
    Tensor sn = sin.contiguous();
    Tensor y = rotate(x.value().contiguous(), c, sn, 1);
    return record(new Rope(c, sn), y, x);
  }

  /**
   * Rotates every pair (x1[j], x2[j]) by +angle ({@code sign} 1, the forward) or -angle (-1, the
   * backward: a rotation's transpose is its inverse).
   */
  private static Tensor rotate(Tensor x, Tensor cos, Tensor sin, int sign) {
    int B = x.dim(0);
    int H = x.dim(1);
    int T = x.dim(2);
    int D = x.dim(3);
    int half = D / 2;
    Tensor y = Tensor.empty(x.dtype(), x.shape()); // (B, H, T, D)
    Buf xb = x.buffer();
    Buf cb = cos.buffer();
    Buf sb = sin.buffer();
    Buf yb = y.buffer();
    Parallel.forRange(B * H * T, 3 * D, (r0, r1) -> {
      for (int r = r0; r < r1; r++) {
        int b = r / (H * T);
        int t = r % T;
        int o = r * D;
        int a = (b * T + t) * half; // this token's row of cos and sin
        for (int j = 0; j < half; j++) {
          double c = cb.get(a + j);
          double sn = sign * sb.get(a + j);
          double x1 = xb.get(o + j);
          double x2 = xb.get(o + half + j);
          yb.set(o + j, x1 * c - x2 * sn);
          yb.set(o + half + j, x2 * c + x1 * sn);
        }
      }
    });
    return y;
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
    return new Tensor[] {rotate(g.contiguous(), cos, sin, -1)};
  }
}
