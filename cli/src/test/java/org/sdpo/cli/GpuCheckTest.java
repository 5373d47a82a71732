package org.sdpo.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.sdpo.tensor.Backend;
import org.sdpo.tensor.Backends;

/**
 * The GPU check (tools/gpu-check.sh) end to end on the fake device: the same checks a GPU
 * machine runs, so the script's correctness part is known to work before it reaches one.
 */
class GpuCheckTest {
  @Test
  void passesOnTheFakeDevice() {
    Backend before = Backends.current();
    try {
      int failed = new GpuCheck().run(p -> GpuCheck.backend(true, p), 3,
          Path.of("../transformer/src/test/resources/fixtures"));
      assertThat(failed).isZero();
    } finally {
      Backends.install(before);
    }
  }
}
