package org.sdpo.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The example grader for model-written Python, through ./sdpo verify (needs python3). */
class ExternalGraderCommandTest {
  @TempDir Path dir;

  private static boolean hasPython() {
    try {
      return new ProcessBuilder("python3", "--version").start().waitFor() == 0;
    } catch (Exception e) {
      return false;
    }
  }

  private GradCheckCommandTest.Result verify(String attempt, String... extra) throws Exception {
    Path a = dir.resolve("attempt.py");
    Files.writeString(a, attempt);
    java.util.List<String> args = new java.util.ArrayList<>(java.util.List.of("verify", "--env",
        "external", "--command", "python3 ../examples/graders/python_tests.py", "--task-file",
        "../examples/graders/python_tasks.jsonl", "--attempt-file", a.toString(), "--json"));
    args.addAll(java.util.List.of(extra));
    return GradCheckCommandTest.run(args.toArray(new String[0]));
  }

  @Test
  void theExamplePythonGraderJudgesAttemptsInTheSandbox() throws Exception {
    assumeTrue(hasPython(), "python3 is not installed: the example grader cannot run");
    GradCheckCommandTest.Result ok = verify("def f(x):\n    return max(0, min(10, x))\n");
    assertThat(ok.exit()).as(ok.err()).isZero();
    assertThat(ok.out()).contains("\"success\":true", "\"sandbox\":");
    GradCheckCommandTest.Result bad = verify("def f(x):\n    return x * 3\n");
    assertThat(bad.out()).contains("f(-5) returned -15, expected 0 (test 1 of 3)");
    GradCheckCommandTest.Result slow = verify("def f(x):\n    while True: pass\n", "--timeout",
        "20");
    assertThat(slow.out()).contains("timed out after 2 s");
    GradCheckCommandTest.Result escape = verify("import os\nos.system('touch /etc/sdpo_was_here')\n"
        + "def f(x):\n    return 2 * x\n");
    assertThat(Path.of("/etc/sdpo_was_here")).doesNotExist();
    assertThat(escape.out()).contains("\"success\":true"); // the double task; nothing escaped
  }

  @Test
  void badSandboxOptionsAreOneLineErrors() {
    GradCheckCommandTest.Result r = GradCheckCommandTest.run("verify", "--env", "external",
        "--command", "true", "--sandbox", "docker", "--task-file",
        "../examples/graders/python_tasks.jsonl", "--attempt-file", "../README.md");
    assertThat(r.exit()).isEqualTo(2);
    assertThat(r.err()).contains("--sandbox must be auto, bwrap, unshare or process_tree");
  }
}
