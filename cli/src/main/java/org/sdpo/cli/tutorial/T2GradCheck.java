package org.sdpo.cli.tutorial;

import java.io.PrintStream;
import org.sdpo.autograd.Op;
import org.sdpo.autograd.Variable;
import org.sdpo.autograd.check.GradCheck;
import org.sdpo.tensor.DType;
import org.sdpo.tensor.Rng;
import org.sdpo.tensor.Tensor;

/**
 * Tutorial 2: adding an op and proving its gradient. An op is one class: {@code apply} computes
 * the forward value and saves what the backward needs; {@code backward} maps the gradient of the
 * output to the gradient of each input. {@link GradCheck} compares that analytic gradient with
 * central finite differences in float64, element by element.
 */
public final class T2GradCheck {
  private T2GradCheck() {}

  /** softplus(x) = log(1 + e^x), computed stably as max(x, 0) + log(1 + e^-|x|). */
  static final class Softplus extends Op {
    private final Tensor x;

    private Softplus(Tensor x) {
      this.x = x;
    }

    static Variable apply(Variable in) {
      return record(new Softplus(in.value()), forward(in.value()), in);
    }

    static Tensor forward(Tensor x) {
      return x.relu().add(x.abs().neg().exp().add(1.0).log());
    }

    @Override
    public String name() {
      return "softplus";
    }

    // d softplus(x)/dx = e^x / (1 + e^x) = sigmoid(x)
    @Override
    public Tensor[] backward(Tensor g) {
      return new Tensor[] {g.mul(x.sigmoid())};
    }
  }

  /** The same op with a typical mistake: the derivative of log(1 + e^x) taken as 1 / (1 + e^x). */
  static final class BrokenSoftplus extends Op {
    private final Tensor x;

    private BrokenSoftplus(Tensor x) {
      this.x = x;
    }

    static Variable apply(Variable in) { // the same forward as Softplus
      return record(new BrokenSoftplus(in.value()), Softplus.forward(in.value()), in);
    }

    @Override
    public String name() {
      return "broken_softplus";
    }

    @Override
    public Tensor[] backward(Tensor g) {
      return new Tensor[] {g.mul(x.exp().add(1.0).reciprocal())}; // wrong: sigmoid(-x)
    }
  }

  public static boolean run(PrintStream out) {
    Tensor x = Tensor.uniform(new Rng(7), DType.FLOAT64, -3, 3, 2, 3); // (2, 3)
    GradCheck.Report good = GradCheck.check("softplus", v -> Softplus.apply(v[0]), x);
    out.println(good.describe());
    GradCheck.Report bad = GradCheck.check("broken_softplus", v -> BrokenSoftplus.apply(v[0]), x);
    out.println(bad.describe());
    out.println(good.passed() && !bad.passed()
        ? "as expected: the correct backward passes, the broken one fails and names the element"
        : "UNEXPECTED: the check did not separate the two");
    return good.passed() && !bad.passed();
  }
}
