package org.sdpo.autograd.fused;

import org.sdpo.autograd.Op;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.Buf;
import org.sdpo.tensor.Parallel;
import org.sdpo.tensor.Tensor;

/**
 * Root-mean-square normalisation over the last axis (C), as in Llama, Qwen2 and Qwen3
 * ({@code LlamaRMSNorm}): y = x * rstd * gamma with rstd = 1 / sqrt(mean_c(x^2) + eps); no mean
 * is removed and there is no shift. One pass per row forward and backward. Composed twin: mul,
 * mean, shift, sqrt, div, mul.
 */
public final class RmsNorm extends Op {
  private final Tensor x;
  private final Tensor gamma;
  private final double[] rstd;

  private RmsNorm(Tensor x, Tensor gamma, double[] rstd) {
    this.x = x;
    this.gamma = gamma;
    this.rstd = rstd;
  }

  public static Variable apply(Variable x, Variable gamma, double eps) {
    Tensor xv = x.value().contiguous();
    int C = xv.dim(-1);
    if (gamma.value().rank() != 1 || gamma.dim(0) != C) {
      throw new IllegalArgumentException("rms_norm: input " + java.util.Arrays.toString(x.shape())
          + " needs a weight of shape [" + C + "], got " + java.util.Arrays.toString(gamma.shape()));
    }
    int rows = (int) (xv.numel() / C);
    Tensor y = Tensor.empty(xv.dtype(), xv.shape()); // (..., C)
    Buf xb = xv.buffer();
    Buf gb = gamma.value().buffer();
    Buf yb = y.buffer();
    double[] rstd = new double[rows];
    Parallel.forRange(rows, 3 * C, (s0, e0) -> {
      for (int r = s0; r < e0; r++) {
        int o = r * C;
        double ms = 0;
        for (int c = 0; c < C; c++) {
          double v = xb.get(o + c);
          ms += v * v;
        }
        double s = 1.0 / Math.sqrt(ms / C + eps);
        for (int c = 0; c < C; c++) {
          yb.set(o + c, xb.get(o + c) * s * gb.get(c));
        }
        rstd[r] = s; // saved for backward
      }
    });
    return record(new RmsNorm(xv, gamma.value(), rstd), y, x, gamma);
  }

  @Override
  public String name() {
    return "rms_norm";
  }

  /*
   * With xhat = x rstd and dxhat = dy * gamma:
   *   dgamma = sum over rows of dy * xhat
   *   dx     = rstd * (dxhat - xhat * mean_c(dxhat * xhat))
   * (the Jacobian of x / rms(x): the identity minus the projection on x, rescaled).
   */
  @Override
  public Tensor[] backward(Tensor g) {
    int C = x.dim(-1);
    int rows = (int) (x.numel() / C);
    Tensor dx = Tensor.empty(x.dtype(), x.shape());
    Tensor dgamma = Tensor.empty(x.dtype(), C);
    Buf xb = x.buffer();
    Buf gb = g.buffer();
    Buf gam = gamma.buffer();
    Buf dxb = dx.buffer();
    Buf dgb = dgamma.buffer();
    Parallel.forRange(rows, 4 * C, (s0, e0) -> {
      for (int r = s0; r < e0; r++) {
        int o = r * C;
        double s = rstd[r];
        double meanDX = 0;
        for (int c = 0; c < C; c++) {
          meanDX += gb.get(o + c) * gam.get(c) * xb.get(o + c) * s;
        }
        meanDX /= C;
        for (int c = 0; c < C; c++) {
          double xhat = xb.get(o + c) * s;
          dxb.set(o + c, s * (gb.get(o + c) * gam.get(c) - xhat * meanDX));
        }
      }
    });
    // dgamma: each column summed over the rows in order, whatever the split
    Parallel.forRange(C, 2 * rows, (c0, c1) -> {
      double[] dg = new double[c1 - c0];
      for (int r = 0; r < rows; r++) {
        int o = r * C;
        for (int c = c0; c < c1; c++) {
          dg[c - c0] += gb.get(o + c) * xb.get(o + c) * rstd[r];
        }
      }
      for (int c = c0; c < c1; c++) {
        dgb.set(c, dg[c - c0]);
      }
    });
    return new Tensor[] {dx, needsGrad(1) ? dgamma : null};
  }
}
