package org.sdpo.tensor;

import java.util.Arrays;

/**
 * The fused kernels as tensor functions: each checks its arguments, takes its outputs (from the
 * open workspace scope, if any) and calls the one {@link Backend} method that computes them, so
 * the autograd layer keeps the math of an op readable without touching memory. Saved statistics
 * (means, inverse standard deviations) are float64 tensors.
 */
public final class Fused {
  private Fused() {}

  private static Backend backend() {
    return Backends.current();
  }

  private static void same(String op, Tensor a, Tensor b) {
    if (!Arrays.equals(a.shape(), b.shape()) || a.dtype() != b.dtype()) {
      throw new IllegalArgumentException(op + ": shapes or dtypes differ: " + Shape.str(a.shape())
          + " " + a.dtype() + " and " + Shape.str(b.shape()) + " " + b.dtype());
    }
  }

  private static void vector(String op, Tensor v, int C, String what) {
    if (v.rank() != 1 || v.dim(0) != C) {
      throw new IllegalArgumentException(op + ": " + what + " must be [" + C + "], got "
          + Shape.str(v.shape()));
    }
  }

  /** GELU (tanh form) of x: {y, t} with t the tanh saved for the backward. */
  public static Tensor[] gelu(Tensor x) {
    Tensor xc = x.contiguous();
    Tensor y = Tensor.empty(xc.dtype(), xc.shape());
    Tensor t = Tensor.empty(xc.dtype(), xc.shape());
    backend().gelu(xc, y, t);
    return new Tensor[] {y, t};
  }

  /** dx of GELU from x, its saved t and the output gradient g. */
  public static Tensor geluBackward(Tensor x, Tensor t, Tensor g) {
    Tensor gc = g.contiguous();
    same("gelu backward", x, t);
    same("gelu backward", x, gc);
    Tensor dx = Tensor.empty(x.dtype(), x.shape());
    backend().geluBackward(x.contiguous(), t.contiguous(), gc, dx);
    return dx;
  }

  /** SiLU of x: {y, s} with s = sigmoid(x) saved for the backward. */
  public static Tensor[] silu(Tensor x) {
    Tensor xc = x.contiguous();
    Tensor y = Tensor.empty(xc.dtype(), xc.shape());
    Tensor s = Tensor.empty(xc.dtype(), xc.shape());
    backend().silu(xc, y, s);
    return new Tensor[] {y, s};
  }

  /** dx of SiLU from x, its saved s and the output gradient g. */
  public static Tensor siluBackward(Tensor x, Tensor s, Tensor g) {
    Tensor gc = g.contiguous();
    same("silu backward", x, s);
    same("silu backward", x, gc);
    Tensor dx = Tensor.empty(x.dtype(), x.shape());
    backend().siluBackward(x.contiguous(), s.contiguous(), gc, dx);
    return dx;
  }

  /** RMS norm of x (..., C) with gamma (C): {y, rstd} with rstd (rows) float64. */
  public static Tensor[] rmsNorm(Tensor x, Tensor gamma, double eps) {
    Tensor xc = x.contiguous();
    int C = xc.dim(-1);
    vector("rms_norm", gamma, C, "weight");
    Tensor y = Tensor.empty(xc.dtype(), xc.shape());
    Tensor rstd = Tensor.empty(DType.FLOAT64, (int) (xc.numel() / C));
    backend().rmsNorm(xc, gamma.contiguous(), eps, y, rstd);
    return new Tensor[] {y, rstd};
  }

  /** {dx, dgamma} of the RMS norm. */
  public static Tensor[] rmsNormBackward(Tensor x, Tensor gamma, Tensor rstd, Tensor g) {
    Tensor gc = g.contiguous();
    same("rms_norm backward", x, gc);
    int C = x.dim(-1);
    Tensor dx = Tensor.empty(x.dtype(), x.shape());
    Tensor dgamma = Tensor.empty(x.dtype(), C);
    backend().rmsNormBackward(x.contiguous(), gamma.contiguous(), rstd, gc, dx, dgamma);
    return new Tensor[] {dx, dgamma};
  }

  /** Layer norm of x (..., C): {y, mean, rstd} with mean and rstd (rows) float64. */
  public static Tensor[] layerNorm(Tensor x, Tensor gamma, Tensor beta, double eps) {
    Tensor xc = x.contiguous();
    int C = xc.dim(-1);
    vector("layer_norm", gamma, C, "weight");
    vector("layer_norm", beta, C, "bias");
    int rows = (int) (xc.numel() / C);
    Tensor y = Tensor.empty(xc.dtype(), xc.shape());
    Tensor mean = Tensor.empty(DType.FLOAT64, rows);
    Tensor rstd = Tensor.empty(DType.FLOAT64, rows);
    backend().layerNorm(xc, gamma.contiguous(), beta.contiguous(), eps, y, mean, rstd);
    return new Tensor[] {y, mean, rstd};
  }

  /** {dx, dgamma, dbeta} of the layer norm. */
  public static Tensor[] layerNormBackward(Tensor x, Tensor gamma, Tensor mean, Tensor rstd,
      Tensor g) {
    Tensor gc = g.contiguous();
    same("layer_norm backward", x, gc);
    int C = x.dim(-1);
    Tensor dx = Tensor.empty(x.dtype(), x.shape());
    Tensor dgamma = Tensor.empty(x.dtype(), C);
    Tensor dbeta = Tensor.empty(x.dtype(), C);
    backend().layerNormBackward(x.contiguous(), gamma.contiguous(), mean, rstd, gc, dx, dgamma,
        dbeta);
    return new Tensor[] {dx, dgamma, dbeta};
  }

  /**
   * The rotate-half rotation of x (B, H, T, D) by the angles whose cos and sin are (B, T, D/2);
   * {@code sign} -1 applies the inverse rotation.
   */
  public static Tensor rope(Tensor x, Tensor cos, Tensor sin, int sign) {
    int[] s = x.shape();
    if (s.length != 4 || s[3] % 2 != 0 || cos.rank() != 3 || !Arrays.equals(cos.shape(),
        sin.shape()) || cos.dim(0) != s[0] || cos.dim(1) != s[2] || cos.dim(2) != s[3] / 2) {
      throw new IllegalArgumentException("rope: expected x (B, H, T, D) with D even and cos, sin"
          + " (B, T, D/2), got x " + Shape.str(s) + ", cos " + Shape.str(cos.shape()) + ", sin "
          + Shape.str(sin.shape()));
    }
    Tensor y = Tensor.empty(x.dtype(), s);
    backend().rope(x.contiguous(), cos.contiguous(), sin.contiguous(), sign, y);
    return y;
  }
}
