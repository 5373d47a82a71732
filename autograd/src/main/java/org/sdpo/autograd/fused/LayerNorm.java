package org.sdpo.autograd.fused;

import org.sdpo.autograd.Op;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.Buf;
import org.sdpo.tensor.Parallel;
import org.sdpo.tensor.Tensor;

/**
 * Layer normalisation over the last axis (C), as in GPT-2:
 * y = (x - mean) * rstd * gamma + beta, with rstd = 1 / sqrt(var + eps) and the biased variance.
 * One pass per row forward and backward (after llm.c's layernorm_forward/backward). Composed
 * twin: mean, sub, square, mean, add, sqrt, div, mul, add.
 */
public final class LayerNorm extends Op {
  private final Tensor x;
  private final Tensor gamma;
  private final double[] mean;
  private final double[] rstd;

  private LayerNorm(Tensor x, Tensor gamma, double[] mean, double[] rstd) {
    this.x = x;
    this.gamma = gamma;
    this.mean = mean;
    this.rstd = rstd;
  }

  public static Variable apply(Variable x, Variable gamma, Variable beta, double eps) {
    Tensor xv = x.value().contiguous();
    int C = xv.dim(-1);
    if (gamma.value().rank() != 1 || gamma.dim(0) != C || beta.value().rank() != 1
        || beta.dim(0) != C) {
      throw new IllegalArgumentException("layer_norm: input " + java.util.Arrays.toString(x.shape())
          + " needs weight and bias of shape [" + C + "], got "
          + java.util.Arrays.toString(gamma.shape()) + " and "
          + java.util.Arrays.toString(beta.shape()));
    }
    int rows = (int) (xv.numel() / C);
    Tensor y = Tensor.empty(xv.dtype(), xv.shape()); // (..., C)
    Buf xb = xv.buffer();
    Buf gb = gamma.value().buffer();
    Buf bb = beta.value().buffer();
    Buf yb = y.buffer();
    double[] mean = new double[rows];
    double[] rstd = new double[rows];
    Parallel.forRange(rows, 4 * C, (s0, e0) -> {
      for (int r = s0; r < e0; r++) {
        int o = r * C;
        double m = 0;
        for (int c = 0; c < C; c++) {
          m += xb.get(o + c);
        }
        m /= C;
        double v = 0;
        for (int c = 0; c < C; c++) {
          double d = xb.get(o + c) - m;
          v += d * d;
        }
        double s = 1.0 / Math.sqrt(v / C + eps);
        for (int c = 0; c < C; c++) {
          yb.set(o + c, (xb.get(o + c) - m) * s * gb.get(c) + bb.get(c));
        }
        mean[r] = m; // saved for backward
        rstd[r] = s; // saved for backward
      }
    });
    return record(new LayerNorm(xv, gamma.value(), mean, rstd), y, x, gamma, beta);
  }

  @Override
  public String name() {
    return "layer_norm";
  }

  /*
   * With xhat = (x - mean) rstd and dxhat = dy * gamma:
   *   dbeta  = sum over rows of dy
   *   dgamma = sum over rows of dy * xhat
   *   dx     = rstd * (dxhat - mean_c(dxhat) - xhat * mean_c(dxhat * xhat))
   * (the last line is the Jacobian of the normalisation, which removes the mean and rescales).
   */
  @Override
  public Tensor[] backward(Tensor g) {
    int C = x.dim(-1);
    int rows = (int) (x.numel() / C);
    Tensor dx = Tensor.empty(x.dtype(), x.shape());
    Tensor dgamma = Tensor.empty(x.dtype(), C);
    Tensor dbeta = Tensor.empty(x.dtype(), C);
    Buf xb = x.buffer();
    Buf gb = g.buffer();
    Buf gam = gamma.buffer();
    Buf dxb = dx.buffer();
    Buf dgb = dgamma.buffer();
    Buf dbb = dbeta.buffer();
    // dx: rows are independent
    Parallel.forRange(rows, 4 * C, (s0, e0) -> {
      for (int r = s0; r < e0; r++) {
        int o = r * C;
        double m = mean[r];
        double s = rstd[r];
        double meanD = 0;
        double meanDX = 0;
        for (int c = 0; c < C; c++) {
          double xhat = (xb.get(o + c) - m) * s;
          double dxhat = gb.get(o + c) * gam.get(c);
          meanD += dxhat;
          meanDX += dxhat * xhat;
        }
        meanD /= C;
        meanDX /= C;
        for (int c = 0; c < C; c++) {
          double xhat = (xb.get(o + c) - m) * s;
          dxb.set(o + c, s * (gb.get(o + c) * gam.get(c) - meanD - xhat * meanDX));
        }
      }
    });
    // dgamma, dbeta: each column summed over the rows in order, whatever the split
    Parallel.forRange(C, 2 * rows, (c0, c1) -> {
      double[] dg = new double[c1 - c0];
      double[] db = new double[c1 - c0];
      for (int r = 0; r < rows; r++) {
        int o = r * C;
        for (int c = c0; c < c1; c++) {
          double dy = gb.get(o + c);
          db[c - c0] += dy;
          dg[c - c0] += dy * (xb.get(o + c) - mean[r]) * rstd[r];
        }
      }
      for (int c = c0; c < c1; c++) {
        dgb.set(c, dg[c - c0]);
        dbb.set(c, db[c - c0]);
      }
    });
    return new Tensor[] {dx, dgamma, dbeta};
  }
}
