package org.sdpo.autograd;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.quicktheories.QuickTheory.qt;
import static org.quicktheories.generators.Generate.longRange;
import static org.quicktheories.generators.Generate.range;

import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;
import org.sdpo.autograd.check.GradCheck;
import org.sdpo.autograd.check.OpCatalog;

/**
 * For every registered op: random shapes (sizes 1..4, so size-1 axes and broadcasting are
 * frequent) and random values from a seed; the analytic gradient must match central finite
 * differences in float64. On failure QuickTheories shrinks the sizes and the seed towards the
 * smallest counterexample and prints it with the op, the shapes and the worst element.
 */
class GradientPropertyTest {
  static final long SEED = 20261125L;
  static final int EXAMPLES = 12;

  @TestFactory
  Stream<DynamicTest> analyticGradientMatchesFiniteDifferences() {
    return OpCatalog.all().stream().map(entry -> DynamicTest.dynamicTest(entry.name(), () ->
        qt().withFixedSeed(SEED)
            .withExamples(EXAMPLES)
            .forAll(range(1, 4), range(1, 4), range(1, 4), longRange(0, 1_000_000))
            .checkAssert((n0, n1, n2, seed) -> {
              OpCatalog.Instance inst = entry.make(seed, n0, n1, n2);
              GradCheck.Report r = GradCheck.check(entry.name(), inst.f(), inst.inputs());
              assertTrue(r.passed(), () -> r.describe() + " (inputs " + inst.shapes() + ")");
            })));
  }
}
