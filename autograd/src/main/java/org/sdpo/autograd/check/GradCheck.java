package org.sdpo.autograd.check;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.function.Function;
import org.sdpo.autograd.Grad;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.DType;
import org.sdpo.tensor.Rng;
import org.sdpo.tensor.Tensor;

/**
 * Gradient checking: the analytic gradient from {@link Variable#backward()} against central finite
 * differences, in float64.
 *
 * <p>A non-scalar output y is reduced to the scalar L = sum(y * R) with a fixed random R, so every
 * output element contributes. For each input element x_i the numeric derivative is (L(x_i + eps)
 * - L(x_i - eps)) / (2 eps). An element passes when |analytic - numeric| &lt;= atol + rtol *
 * |numeric|. The report names the worst element of each input with both values. The backward is
 * also run twice, and must give identical gradients both times.
 */
public final class GradCheck {
  private GradCheck() {}

  /** Step and tolerances of the check. */
  public record Tolerance(double eps, double atol, double rtol) {
    /** eps 1e-6, atol 1e-6, rtol 1e-5: tight for float64 central differences. */
    public static final Tolerance DEFAULT = new Tolerance(1e-6, 1e-6, 1e-5);
  }

  /** The result for one input. */
  public record InputReport(int input, int[] shape, double maxAbsError, double maxRelError,
      int[] worstIndex, double analytic, double numeric, boolean passed) {}

  /** The result of one check. */
  public record Report(String name, List<InputReport> inputs, boolean reentrant) {
    public boolean passed() {
      return reentrant && inputs.stream().allMatch(InputReport::passed);
    }

    public double maxAbsError() {
      return inputs.stream().mapToDouble(InputReport::maxAbsError).max().orElse(0);
    }

    public double maxRelError() {
      return inputs.stream().mapToDouble(InputReport::maxRelError).max().orElse(0);
    }

    /** A message pointing at the op, the input and the worst element. */
    public String describe() {
      StringBuilder sb = new StringBuilder(name).append(passed() ? ": gradient ok" : ": GRADIENT MISMATCH");
      if (!reentrant) {
        sb.append("; backward is not reentrant (two runs gave different gradients)");
      }
      for (InputReport r : inputs) {
        if (!r.passed()) {
          sb.append(String.format(Locale.ROOT,
              "; input %d %s at index %s: analytic %.9g, numeric %.9g (abs err %.3g, rel err %.3g)",
              r.input(), Arrays.toString(r.shape()), Arrays.toString(r.worstIndex()),
              r.analytic(), r.numeric(), r.maxAbsError(), r.maxRelError()));
        }
      }
      return sb.toString();
    }
  }

  /** Checks f at the given float64 inputs with the default tolerance. */
  public static Report check(String name, Function<Variable[], Variable> f, Tensor... inputs) {
    return check(name, f, Tolerance.DEFAULT, inputs);
  }

  /** Checks f at the given float64 inputs, all of which are treated as parameters. */
  public static Report check(
      String name, Function<Variable[], Variable> f, Tolerance tol, Tensor... inputs) {
    for (int i = 0; i < inputs.length; i++) {
      if (inputs[i].dtype() != DType.FLOAT64) {
        throw new IllegalArgumentException("gradcheck of " + name + ": input " + i + " is "
            + inputs[i].dtype() + "; finite differences need FLOAT64");
      }
    }
    Tensor[] x = new Tensor[inputs.length];
    for (int i = 0; i < inputs.length; i++) {
      x[i] = inputs[i].copy();
    }
    Tensor out;
    try (Grad.Scope s = Grad.disabled()) {
      out = f.apply(constants(x)).value();
    }
    Tensor r = Tensor.uniform(new Rng(0x5eedL), DType.FLOAT64, -1, 1, out.shape());
    double[] weights = r.toDoubleArray();

    Tensor[] analytic = analytic(f, x, r);
    Tensor[] again = analytic(f, x, r);
    boolean reentrant = true;
    for (int i = 0; i < x.length; i++) {
      reentrant &= Arrays.equals(analytic[i].toDoubleArray(), again[i].toDoubleArray());
    }

    List<InputReport> reports = new ArrayList<>();
    for (int i = 0; i < x.length; i++) {
      reports.add(checkInput(f, x, i, analytic[i], weights, tol));
    }
    return new Report(name, reports, reentrant);
  }

  private static Tensor[] analytic(Function<Variable[], Variable> f, Tensor[] x, Tensor r) {
    Variable[] params = new Variable[x.length];
    for (int i = 0; i < x.length; i++) {
      params[i] = Variable.param(x[i]);
    }
    Variable y = f.apply(params);
    Tensor[] grads = new Tensor[x.length];
    if (y.requiresGrad()) {
      y.backward(r);
    }
    for (int i = 0; i < x.length; i++) {
      Tensor g = params[i].grad();
      grads[i] = g != null ? g : Tensor.zeros(DType.FLOAT64, x[i].shape());
    }
    return grads;
  }

  private static InputReport checkInput(Function<Variable[], Variable> f, Tensor[] x, int which,
      Tensor analyticGrad, double[] weights, Tolerance tol) {
    Tensor xi = x[which];
    double[] a = analyticGrad.toDoubleArray();
    int[] shape = xi.shape();
    double maxAbs = 0;
    double maxRel = 0;
    double worstRatio = -1;
    int worst = 0;
    double worstNum = 0;
    for (int e = 0; e < a.length; e++) {
      int[] idx = unravel(e, shape);
      double orig = xi.get(idx);
      xi.set(orig + tol.eps(), idx);
      double plus = loss(f, x, weights);
      xi.set(orig - tol.eps(), idx);
      double minus = loss(f, x, weights);
      xi.set(orig, idx);
      double num = (plus - minus) / (2 * tol.eps());
      double err = Math.abs(a[e] - num);
      if (Double.isNaN(err)) {
        err = Double.POSITIVE_INFINITY;
      }
      double scale = Math.max(Math.abs(num), Math.abs(a[e]));
      double rel = scale > tol.atol() ? err / scale : 0;
      double ratio = err / (tol.atol() + tol.rtol() * Math.abs(num));
      maxAbs = Math.max(maxAbs, err);
      maxRel = Math.max(maxRel, rel);
      if (ratio > worstRatio) {
        worstRatio = ratio;
        worst = e;
        worstNum = num;
      }
    }
    boolean passed = worstRatio <= 1;
    return new InputReport(which, shape, maxAbs, maxRel, unravel(worst, shape),
        a.length == 0 ? 0 : a[worst], worstNum, passed);
  }

  private static double loss(Function<Variable[], Variable> f, Tensor[] x, double[] weights) {
    double[] y;
    try (Grad.Scope s = Grad.disabled()) {
      y = f.apply(constants(x)).value().toDoubleArray();
    }
    double l = 0;
    for (int i = 0; i < y.length; i++) {
      l += y[i] * weights[i];
    }
    return l;
  }

  private static Variable[] constants(Tensor[] x) {
    Variable[] v = new Variable[x.length];
    for (int i = 0; i < x.length; i++) {
      v[i] = Variable.constant(x[i]);
    }
    return v;
  }

  static int[] unravel(int flat, int[] shape) {
    int[] idx = new int[shape.length];
    for (int d = shape.length - 1; d >= 0; d--) {
      idx[d] = flat % shape[d];
      flat /= shape[d];
    }
    return idx;
  }
}
