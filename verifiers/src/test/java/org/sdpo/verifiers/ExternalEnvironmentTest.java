package org.sdpo.verifiers;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.sdpo.verifiers.external.ExternalEnvironment;

/** The external environment survives every misbehaving grader. */
class ExternalEnvironmentTest {
  private static final Task TASK = new Task("q1", "external", "What is 6 * 7?", "42", 1,
      Split.TRAIN, Map.of());

  private static String script(String name) {
    try {
      return Path.of(ExternalEnvironmentTest.class.getResource("/graders/" + name).toURI()).toString();
    } catch (URISyntaxException e) {
      throw new IllegalStateException(e);
    }
  }

  private static ExternalEnvironment env(String name, String... extra) {
    List<String> cmd = new ArrayList<>(List.of("sh", script(name)));
    cmd.addAll(List.of(extra));
    return new ExternalEnvironment(cmd, List.of(TASK), FeedbackLevel.FULL, Duration.ofSeconds(2),
        64 * 1024, null);
  }

  @Test
  void goodGraderGradesAttempts() {
    assertThat(env("good.sh").verify(TASK, "42").success()).isTrue();
    Verdict wrong = env("good.sh").verify(TASK, "41");
    assertThat(wrong.success()).isFalse();
    assertThat(wrong.feedback()).isEqualTo("Wrong Answer\nexpected 42");
    assertThat(wrong.details()).containsEntry("checked", 1L);
    assertThat(env("good.sh").withFeedback(FeedbackLevel.SUMMARY).verify(TASK, "41").feedback())
        .isEqualTo("Wrong Answer");
  }

  @Test
  void endlessGraderTimesOut() {
    long t0 = System.nanoTime();
    Verdict v = env("endless.sh").verify(TASK, "42");
    assertThat(v.kind()).isEqualTo("grader_timeout");
    assertThat(v.feedback()).contains("did not answer within 2.0 s");
    assertThat((System.nanoTime() - t0) / 1e9).isLessThan(10);
  }

  @Test
  void crashIsAFailedVerdictWithStderr() {
    Verdict v = env("crash.sh").verify(TASK, "42");
    assertThat(v.kind()).isEqualTo("grader_crash");
    assertThat(v.feedback()).contains("exited with code 3", "grader panic: index out of range");
  }

  @Test
  void garbageAndBadRewardsAreMalformed() {
    assertThat(env("garbage.sh").verify(TASK, "42").feedback())
        .contains("malformed grader output", "Traceback");
    assertThat(env("badreward.sh").verify(TASK, "42").feedback()).contains("outside [0, 1]");
  }

  @Test
  void floodingGraderIsStoppedAtTheOutputCap() {
    long t0 = System.nanoTime();
    Verdict v = env("flood.sh").verify(TASK, "42");
    assertThat(v.feedback()).contains("more than 65536 bytes");
    assertThat((System.nanoTime() - t0) / 1e9).isLessThan(2.0);
  }

  @Test
  void timeoutKillsTheWholeProcessTree() throws Exception {
    Path pidFile = Files.createTempFile("child", ".pid");
    Verdict v = env("forker.sh", pidFile.toString()).verify(TASK, "42");
    assertThat(v.kind()).isEqualTo("grader_timeout");
    long pid = Long.parseLong(Files.readString(pidFile).trim());
    for (int i = 0; i < 50 && ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false); i++) {
      Thread.sleep(100);
    }
    assertThat(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false))
        .as("the grader's child process").isFalse();
  }

  @Test
  void slowAndNonReadingGradersWork() {
    assertThat(env("slow.sh").verify(TASK, "x").success()).isTrue();
    Verdict v = env("noread.sh").verify(TASK, "y".repeat(500_000));
    assertThat(v.reward()).isEqualTo(0.5);
    assertThat(v.feedback()).isEqualTo("Failed\nhalf right");
  }

  @Test
  void manyAttemptsAreGradedInParallelInOrder() {
    ExternalEnvironment env = env("slow.sh");
    List<Task> tasks = java.util.Collections.nCopies(8, TASK);
    List<String> attempts = java.util.Collections.nCopies(8, "42");
    long t0 = System.nanoTime();
    List<Verdict> vs = Verifiers.verifyAll(env, tasks, attempts, 8);
    double seconds = (System.nanoTime() - t0) / 1e9;
    assertThat(vs).hasSize(8).allMatch(Verdict::success);
    assertThat(seconds).as("8 graders of 0.4 s in parallel").isLessThan(8 * 0.4);
    List<Verdict> mixed = Verifiers.verifyAll(env("good.sh"), List.of(TASK, TASK, TASK),
        List.of("42", "41", "42"), 3);
    assertThat(mixed).extracting(Verdict::success).containsExactly(true, false, true);
  }

  @Test
  void missingGraderIsAFailedVerdict() {
    ExternalEnvironment env = ExternalEnvironment.of(List.of("/nonexistent/grader"), List.of(TASK),
        FeedbackLevel.FULL);
    assertThat(env.verify(TASK, "42").feedback()).contains("could not start the grader");
  }
}
