package org.sdpo.tensor.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Every kernel compiles with nvcc for Turing (sm_75), Ampere (sm_80) and Hopper (sm_90a) without
 * warnings, without register spills and without a stack frame (ptxas -warn-spills, and each
 * kernel's report checked: a run-time index into the Dims struct once gave 12 kernels a 128-byte
 * frame in local memory). Skipped, with a message, where nvcc is absent.
 */
class KernelCompileTest {

  static Path nvcc() {
    List<Path> candidates = new ArrayList<>();
    String env = System.getenv("NVCC");
    if (env != null) {
      candidates.add(Path.of(env));
    }
    for (String dir : System.getenv().getOrDefault("PATH", "").split(":")) {
      candidates.add(Path.of(dir, "nvcc"));
    }
    candidates.add(Path.of("/usr/local/cuda/bin/nvcc"));
    candidates.add(Path.of("/usr/local/cuda-13.0/bin/nvcc"));
    return candidates.stream().filter(Files::isExecutable).findFirst().orElse(null);
  }

  @ParameterizedTest
  @ValueSource(strings = {"sm_75", "sm_80", "sm_90a"})
  void compilesWithoutWarningsOrSpills(String arch) throws Exception {
    Path nvcc = nvcc();
    Assumptions.assumeTrue(nvcc != null, "nvcc not found (set NVCC): the kernels are not "
        + "compiled by this test run");
    Path out = Files.createTempFile("sdpo-kernels", ".cubin");
    try {
      Process p = new ProcessBuilder(nvcc.toString(), "-cubin", "-O3", "-std=c++17", "-arch=" + arch,
          "-Xptxas", "-v,-warn-spills", "-o", out.toString(), "src/main/cuda/sdpo_kernels.cu")
          .redirectErrorStream(true).start();
      String log = new String(p.getInputStream().readAllBytes());
      assertThat(p.waitFor(5, TimeUnit.MINUTES)).isTrue();
      assertThat(p.exitValue()).as(log).isZero();
      assertThat(log.toLowerCase()).as(log).doesNotContain("warning");
      Matcher m = Pattern.compile("Compiling entry function '(\\w+)'").matcher(log);
      int kernels = 0;
      while (m.find()) {
        kernels++;
      }
      assertThat(kernels).as(log).isEqualTo(KernelSource.signatures().size());
      Matcher spills = Pattern.compile(
          "(\\d+) bytes stack frame, (\\d+) bytes spill stores, (\\d+) bytes spill loads")
          .matcher(log);
      int reports = 0;
      while (spills.find()) {
        reports++;
        // no local memory at all: no spills, and no array (a Dims) indexed at run time
        assertThat(spills.group(1) + "/" + spills.group(2) + "/" + spills.group(3)).as(log)
            .isEqualTo("0/0/0");
      }
      // one report per kernel and per device function ptxas kept out of line
      assertThat(reports).isGreaterThanOrEqualTo(kernels);
    } finally {
      Files.deleteIfExists(out);
    }
  }
}
