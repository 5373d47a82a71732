package org.sdpo.cli.tutorial;

import java.io.PrintStream;
import java.util.Locale;
import org.sdpo.autograd.F;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.DType;
import org.sdpo.tensor.Tensor;

/**
 * Tutorial 1: reverse-mode automatic differentiation on a few scalars.
 *
 * <p>Every {@link F} call computes a value and records the operation; {@code backward()} walks
 * the record in reverse and applies the chain rule, so each parameter ends up with d(out)/d(param).
 */
public final class T1Autograd {
  private T1Autograd() {}

  public static void run(PrintStream out) {
    // 1. y = tanh(a * b + exp(a)) at a = 0.5, b = -1.5
    Variable a = Variable.param(Tensor.scalar(DType.FLOAT64, 0.5), "a");
    Variable b = Variable.param(Tensor.scalar(DType.FLOAT64, -1.5), "b");
    Variable c = F.add(F.mul(a, b), F.exp(a)); // c = a b + e^a
    Variable y = F.tanh(c);
    y.backward();
    double av = 0.5;
    double bv = -1.5;
    double cv = av * bv + Math.exp(av);
    // by hand: dy/dc = 1 - tanh(c)^2, dc/da = b + e^a, dc/db = a
    double dyDc = 1 - Math.tanh(cv) * Math.tanh(cv);
    out.printf(Locale.ROOT, "y = tanh(a*b + exp(a)) = %.10f%n", y.value().item());
    out.printf(Locale.ROOT, "dy/da: autograd %.10f, by hand %.10f%n", a.grad().item(),
        dyDc * (bv + Math.exp(av)));
    out.printf(Locale.ROOT, "dy/db: autograd %.10f, by hand %.10f%n", b.grad().item(), dyDc * av);

    // 2. a variable used twice receives the sum of both paths: z = x * x + 3x, dz/dx = 2x + 3
    Variable x = Variable.param(Tensor.scalar(DType.FLOAT64, 2.0), "x");
    F.add(F.mul(x, x), F.scale(x, 3)).backward();
    out.printf(Locale.ROOT, "z = x*x + 3x at x = 2: dz/dx = %.1f (2x + 3 = 7)%n", x.grad().item());

    // 3. gradients accumulate until cleared: a second backward adds another 7
    F.add(F.mul(x, x), F.scale(x, 3)).backward();
    out.printf(Locale.ROOT, "after a second backward without zeroGrad: %.1f%n", x.grad().item());
    x.zeroGrad();

    // 4. gradient descent: fit w and c of w * t + c to points of 2t - 1
    double[] ts = {-1, 0, 1, 2, 3};
    Tensor tIn = Tensor.of(DType.FLOAT64, ts, 5);
    Tensor target = Tensor.of(DType.FLOAT64, new double[] {-3, -1, 1, 3, 5}, 5);
    Variable w = Variable.param(Tensor.scalar(DType.FLOAT64, 0.0), "w");
    Variable bias = Variable.param(Tensor.scalar(DType.FLOAT64, 0.0), "c");
    for (int step = 0; step <= 200; step++) {
      Variable pred = F.add(F.mul(F.broadcastTo(w, 5), Variable.constant(tIn)),
          F.broadcastTo(bias, 5)); // (5,)
      Variable diff = F.sub(pred, Variable.constant(target));
      Variable loss = F.mean(F.mul(diff, diff)); // mean squared error
      loss.backward();
      if (step % 50 == 0) {
        out.printf(Locale.ROOT, "step %3d: loss %.6f  w %.4f  c %.4f%n", step,
            loss.value().item(), w.value().item(), bias.value().item());
      }
      // w <- w - 0.05 dL/dw (in place: the parameters keep their identity)
      w.value().axpyInPlace(-0.05, w.grad());
      bias.value().axpyInPlace(-0.05, bias.grad());
      w.zeroGrad();
      bias.zeroGrad();
    }
  }
}
