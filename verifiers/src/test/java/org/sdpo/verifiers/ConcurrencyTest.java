package org.sdpo.verifiers;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.sdpo.verifiers.code.Mutations;

/** Verification is deterministic and thread-safe: many threads give the sequential verdicts. */
class ConcurrencyTest {

  @Test
  void parallelVerdictsEqualSequentialOnes() {
    for (String name : Verifiers.builtIn()) {
      Environment env = Verifiers.byName(name);
      List<Task> tasks = new ArrayList<>();
      List<String> attempts = new ArrayList<>();
      Random r = new Random(1);
      for (Task t : env.tasks(Split.TRAIN, 100, 2, 0)) {
        tasks.add(t);
        attempts.add(t.reference());
        tasks.add(t);
        attempts.add(Mutations.mutate(t.reference(), r));
      }
      List<Verdict> sequential = Verifiers.verifyAll(env, tasks, attempts, 1);
      List<Verdict> parallel = Verifiers.verifyAll(env, tasks, attempts, 8);
      assertThat(parallel).as(name).isEqualTo(sequential);
    }
  }
}
