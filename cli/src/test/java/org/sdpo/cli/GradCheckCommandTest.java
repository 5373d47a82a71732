package org.sdpo.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class GradCheckCommandTest {

  record Result(int exit, String out, String err) {}

  static Result run(String... args) {
    PrintStream oldOut = System.out;
    PrintStream oldErr = System.err;
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    try {
      System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
      System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
      int exit = Main.run(args);
      return new Result(exit, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    } finally {
      System.setOut(oldOut);
      System.setErr(oldErr);
    }
  }

  @Test
  void printsOneRowPerCheckAndPasses() {
    Result r = run("gradcheck", "--op", "matmul", "--op", "layer_norm", "--cases", "2");
    assertThat(r.exit()).isZero();
    assertThat(r.out()).contains("max abs err", "max rel err", "backend: ND4J");
    assertThat(r.out().lines().filter(l -> l.startsWith("matmul ")).count()).isEqualTo(2);
    assertThat(r.out().lines().filter(l -> l.startsWith("layer_norm* ")).count()).isEqualTo(2);
    assertThat(r.out()).contains("2 ops (* = fused), 4 checks, 0 failed", "all gradients match");
  }

  @Test
  void unknownOpIsAClearError() {
    Result r = run("gradcheck", "--op", "nosuch");
    assertThat(r.exit()).isEqualTo(2);
    assertThat(r.err()).contains("no registered op named 'nosuch'");
  }

  @Test
  void tightToleranceMakesChecksFailWithExitCode1() {
    Result r = run("gradcheck", "--op", "exp", "--cases", "1", "--atol", "1e-30", "--rtol", "1e-30");
    assertThat(r.exit()).isEqualTo(1);
    assertThat(r.out()).contains("FAIL", "exp: GRADIENT MISMATCH", "gradcheck: FAILED");
  }
}
