package org.sdpo.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class VerifiersCommandsTest {
  @TempDir Path dir;

  @Test
  void tasksThenVerifyByHand() throws Exception {
    Path tasks = dir.resolve("tasks.jsonl");
    GradCheckCommandTest.Result w = GradCheckCommandTest.run("tasks", "--env", "arith", "--n", "2",
        "--seed", "5", "--difficulty", "1", "--out", tasks.toString());
    assertThat(w.exit()).isZero();
    assertThat(Files.readAllLines(tasks)).hasSize(2);
    Path attempts = dir.resolve("a.jsonl");
    Files.writeString(attempts, "\"0\"\n{\"attempt\": \"nothing\"}\n");
    GradCheckCommandTest.Result v = GradCheckCommandTest.run("verify", "--env", "arith",
        "--feedback", "full", "--task-file", tasks.toString(), "--attempt-file", attempts.toString());
    assertThat(v.exit()).isZero();
    assertThat(v.out()).contains("FAIL wrong_answer", "the correct answer is", "FAIL no_answer",
        "0 of 2 attempts passed");
  }

  @Test
  void showsTasksAndTeachingMaterial() {
    GradCheckCommandTest.Result r = GradCheckCommandTest.run("tasks", "--env", "tool", "--n", "2",
        "--teaching");
    assertThat(r.exit()).isZero();
    assertThat(r.out()).contains("-- wrong attempt:", "-- feedback (full):");
    GradCheckCommandTest.Result c = GradCheckCommandTest.run("tasks", "--env", "code", "--n", "1");
    assertThat(c.out()).contains("-- reference:", "def f(");
  }

  @Test
  void badFilesAndOptionsAreClearErrors() throws Exception {
    Path tasks = dir.resolve("t.jsonl");
    Files.writeString(tasks, "{\"prompt\": \"What is 1 + 1?\", \"data\": {\"answer\": 2}}\n");
    Path attempts = dir.resolve("bad.jsonl");
    Files.writeString(attempts, "[1, 2]\n");
    GradCheckCommandTest.Result r = GradCheckCommandTest.run("verify", "--env", "arith",
        "--task-file", tasks.toString(), "--attempt-file", attempts.toString());
    assertThat(r.exit()).isEqualTo(2);
    assertThat(r.err()).contains("bad.jsonl, line 1", "\"attempt\"");
    GradCheckCommandTest.Result f = GradCheckCommandTest.run("tasks", "--env", "code",
        "--feedback", "loud");
    assertThat(f.exit()).isEqualTo(2);
    assertThat(f.err()).contains("unknown feedback level 'loud'");
    GradCheckCommandTest.Result m = GradCheckCommandTest.run("verify", "--env", "code",
        "--task-file", dir.resolve("missing.jsonl").toString(), "--attempt-file", attempts.toString());
    assertThat(m.exit()).isNotZero();
  }
}
