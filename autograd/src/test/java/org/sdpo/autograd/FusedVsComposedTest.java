package org.sdpo.autograd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.quicktheories.QuickTheory.qt;
import static org.quicktheories.generators.Generate.longRange;
import static org.quicktheories.generators.Generate.range;

import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;
import org.sdpo.autograd.check.OpCatalog;
import org.sdpo.tensor.Rng;
import org.sdpo.tensor.Tensor;

/**
 * Each fused op against the same computation composed of primitives: same forward values and
 * same gradients for every input, on random shapes and values.
 */
class FusedVsComposedTest {

  @TestFactory
  Stream<DynamicTest> fusedOpsMatchTheirComposedTwins() {
    return OpCatalog.all().stream().filter(OpCatalog.Entry::fused)
        .map(entry -> DynamicTest.dynamicTest(entry.name(), () ->
            qt().withFixedSeed(7L)
                .withExamples(15)
                .forAll(range(1, 4), range(1, 4), range(1, 4), longRange(0, 1_000_000))
                .checkAssert((n0, n1, n2, seed) -> {
                  OpCatalog.Instance inst = entry.make(seed, n0, n1, n2);
                  compare(entry.name() + " " + inst.shapes(), inst);
                })));
  }

  static void compare(String what, OpCatalog.Instance inst) {
    Variable[] a = params(inst.inputs());
    Variable[] b = params(inst.inputs());
    Variable ya = inst.f().apply(a);
    Variable yb = inst.composed().apply(b);
    assertThat(ya.value().maxAbsDiff(yb.value())).as("forward of " + what).isLessThan(1e-10);
    Tensor r = Tensor.uniform(new Rng(3), ya.dtype(), -1, 1, ya.shape());
    ya.backward(r);
    yb.backward(r);
    for (int i = 0; i < a.length; i++) {
      assertThat(a[i].grad().maxAbsDiff(b[i].grad()))
          .as("gradient of input " + i + " of " + what)
          .isLessThan(1e-9);
    }
  }

  static Variable[] params(Tensor[] in) {
    Variable[] v = new Variable[in.length];
    for (int i = 0; i < in.length; i++) {
      v[i] = Variable.param(in[i].copy());
    }
    return v;
  }
}
