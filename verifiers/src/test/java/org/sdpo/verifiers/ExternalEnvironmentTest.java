package org.sdpo.verifiers;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.net.ServerSocket;
import java.net.SocketTimeoutException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.api.io.TempDir;
import org.sdpo.verifiers.external.ExternalEnvironment;
import org.sdpo.verifiers.external.Sandbox;

/**
 * The external environment survives every misbehaving grader: each gives a failed verdict that
 * names the cause, within its timeout and a small margin, and nothing it started is left running.
 * Under the process-tree fallback (no bubblewrap, no unshare) the guarantees that need namespaces
 * cannot hold; those tests then say so and check what the fallback does.
 */
class ExternalEnvironmentTest {
  private static final Task TASK = new Task("q1", "external", "What is 6 * 7?", "42", 1,
      Split.TRAIN, Map.of());
  private static final Sandbox.Mechanism MECHANISM = Sandbox.detect();

  @TempDir Path dir;

  static {
    System.err.println("ExternalEnvironmentTest: graders are contained by " + MECHANISM.id()
        + (Sandbox.missing(MECHANISM) == null ? "" : " -- LIMITED: " + Sandbox.missing(MECHANISM)));
  }

  /**
   * The test graders, copied into a directory everyone may read: run as root, graders run as
   * nobody, who could not reach them inside a checkout below a private (0700) directory, such as
   * one made by mktemp -d.
   */
  private static final Path GRADERS = readableCopy();

  private static Path readableCopy() {
    try {
      Path from = Path.of(ExternalEnvironmentTest.class.getResource("/graders").toURI());
      java.util.Set<java.nio.file.attribute.PosixFilePermission> open =
          java.nio.file.attribute.PosixFilePermissions.fromString("rwxr-xr-x");
      Path to = Files.createTempDirectory(Path.of(System.getProperty("java.io.tmpdir")),
          "sdpo-graders-");
      Files.setPosixFilePermissions(to, open);
      to.toFile().deleteOnExit();
      try (var files = Files.list(from)) {
        for (Path f : files.toList()) {
          Path t = Files.copy(f, to.resolve(f.getFileName()));
          Files.setPosixFilePermissions(t, open);
          t.toFile().deleteOnExit();
        }
      }
      return to;
    } catch (URISyntaxException | java.io.IOException e) {
      throw new IllegalStateException(e);
    }
  }

  private static String script(String name) {
    return GRADERS.resolve(name).toString();
  }

  private static ExternalEnvironment env(String name, String... extra) {
    return env(Sandbox.Limits.defaults().with(Duration.ofSeconds(2), 64 * 1024), name, extra);
  }

  private static ExternalEnvironment env(Sandbox.Limits limits, String name, String... extra) {
    return env(MECHANISM, limits, name, extra);
  }

  private static ExternalEnvironment env(Sandbox.Mechanism m, Sandbox.Limits limits, String name,
      String... extra) {
    List<String> cmd = new ArrayList<>(List.of("sh", script(name)));
    cmd.addAll(List.of(extra));
    return new ExternalEnvironment(cmd, List.of(TASK), FeedbackLevel.FULL, limits, m, null);
  }

  private static ExternalEnvironment env(Sandbox.Mechanism m, String name, String... extra) {
    return env(m, Sandbox.Limits.defaults().with(Duration.ofSeconds(2), 64 * 1024), name, extra);
  }

  /** The mechanisms this machine can run: the detected one and the weaker fallbacks. */
  static List<Sandbox.Mechanism> mechanisms() {
    return java.util.Arrays.stream(Sandbox.Mechanism.values())
        .filter(m -> m.ordinal() >= MECHANISM.ordinal()).toList();
  }

  /** Processes whose command line contains {@code marker}, after a short grace period. */
  private static List<ProcessHandle> alive(String marker) throws InterruptedException {
    return alive(marker, 30);
  }

  /** The same, looking up to {@code tries} times, 100 ms apart. */
  private static List<ProcessHandle> alive(String marker, int tries) throws InterruptedException {
    List<ProcessHandle> found = List.of();
    for (int i = 0; i < tries; i++) {
      found = ProcessHandle.allProcesses().filter(ProcessHandle::isAlive)
          .filter(h -> h.info().commandLine().orElse("").contains(marker)).toList();
      if (found.isEmpty() || i == tries - 1) {
        return found;
      }
      Thread.sleep(100);
    }
    return found;
  }

  /**
   * How many processes nobody (the graders' user when the tests run as root) has, by state: a
   * grader that cannot fork is short of them (zombies count until reaped).
   */
  private static String processesOfNobody() {
    java.util.Map<String, Integer> states = new java.util.TreeMap<>();
    try (var dirs = Files.list(Path.of("/proc"))) {
      for (Path d : dirs.filter(d -> d.getFileName().toString().matches("\\d+")).toList()) {
        try {
          if (!Files.readString(d.resolve("status")).contains("\nUid:\t65534\t")) {
            continue;
          }
          String stat = Files.readString(d.resolve("stat"));
          states.merge(stat.substring(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3), 1,
              Integer::sum);
        } catch (java.io.IOException e) {
          // gone meanwhile
        }
      }
    } catch (java.io.IOException e) {
      return "no /proc";
    }
    return "processes of nobody by state: " + states;
  }

  private static double seconds(long t0) {
    return (System.nanoTime() - t0) / 1e9;
  }

  @Test
  void goodGraderGradesAttempts() {
    assertThat(env("good.sh").verify(TASK, "42").success()).isTrue();
    Verdict wrong = env("good.sh").verify(TASK, "41");
    assertThat(wrong.success()).isFalse();
    assertThat(wrong.feedback()).isEqualTo("Wrong Answer\nexpected 42");
    assertThat(wrong.details()).containsEntry("checked", 1L)
        .containsEntry("sandbox", MECHANISM.id());
    assertThat(env("good.sh").withFeedback(FeedbackLevel.SUMMARY).verify(TASK, "41").feedback())
        .isEqualTo("Wrong Answer");
  }

  @ParameterizedTest
  @MethodSource("mechanisms")
  void endlessGraderTimesOut(Sandbox.Mechanism m) {
    long t0 = System.nanoTime();
    Verdict v = env(m, "endless.sh").verify(TASK, "42");
    assertThat(v.kind()).isEqualTo("grader_timeout");
    assertThat(v.feedback()).contains("wall-clock limit", "did not answer within 2.0 s");
    assertThat(v.details()).containsEntry("limit", "wall_clock").containsEntry("sandbox", m.id());
    assertThat(seconds(t0)).isLessThan(4);
  }

  @ParameterizedTest
  @MethodSource("mechanisms")
  void cpuTimeIsLimited(Sandbox.Mechanism m) {
    assumeTrue(Sandbox.limitsEnforced(), "prlimit (util-linux) is not installed");
    Sandbox.Limits l = new Sandbox.Limits(Duration.ofSeconds(10), 1, 1L << 30, 64, 1 << 20,
        1 << 16, false);
    long t0 = System.nanoTime();
    Verdict v = env(m, l, "cpu.sh").verify(TASK, "42");
    assertThat(v.kind()).isEqualTo("grader_limit");
    assertThat(v.feedback()).contains("CPU time limit 1 s exceeded");
    assertThat(seconds(t0)).isLessThan(5);
  }

  @Test
  void crashIsAFailedVerdictWithStderr() {
    Verdict v = env("crash.sh").verify(TASK, "42");
    assertThat(v.kind()).isEqualTo("grader_crash");
    assertThat(v.feedback()).contains("exited with code 3", "grader panic: index out of range")
        .doesNotContain(Sandbox.class.getSimpleName().toLowerCase() + "-status");
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
    assertThat(v.feedback()).contains("output limit", "more than 65536 bytes");
    assertThat(seconds(t0)).isLessThan(2.0);
  }

  @ParameterizedTest
  @MethodSource("mechanisms")
  void timeoutKillsEverythingTheGraderStarted(Sandbox.Mechanism m) throws Exception {
    Verdict v = env(m, "forker.sh").verify(TASK, "42");
    assertThat(v.kind()).isEqualTo("grader_timeout");
    assertThat(alive("sleep 2718")).as("the grader's child process").isEmpty();
  }

  @ParameterizedTest
  @MethodSource("mechanisms")
  void aDoubleForkedDaemonDiesWithItsGrader(Sandbox.Mechanism m) throws Exception {
    Verdict v = env(m, "daemon.sh").verify(TASK, "42");
    assertThat(v.success()).isTrue();
    List<ProcessHandle> left = alive("sleep 3141");
    left.forEach(ProcessHandle::destroyForcibly); // never leave it behind, whatever the result
    if (m == Sandbox.Mechanism.PROCESS_TREE) {
      System.err.println("ExternalEnvironmentTest: " + (left.isEmpty() ? "no" : "a")
          + " daemon outlived its grader under the process-tree fallback: "
          + Sandbox.missing(Sandbox.Mechanism.PROCESS_TREE));
      return;
    }
    assertThat(left).as("the daemon").isEmpty();
  }

  @ParameterizedTest
  @MethodSource("mechanisms")
  void anOrphanDiesWithItsGrader(Sandbox.Mechanism m) throws Exception {
    Verdict v = env(m, "orphan.sh").verify(TASK, "42");
    assertThat(v.success()).as(v.feedback()).isTrue();
    List<ProcessHandle> left = alive("sleep 2719");
    left.forEach(ProcessHandle::destroyForcibly); // never leave it behind, whatever the result
    if (m == Sandbox.Mechanism.PROCESS_TREE && !Sandbox.ownSession()) {
      System.err.println("ExternalEnvironmentTest: without setsid, " + (left.isEmpty() ? "no"
          : "an") + " orphan outlived its grader under the process-tree fallback");
      return;
    }
    assertThat(left).as("the orphan").isEmpty();
  }

  @ParameterizedTest
  @MethodSource("mechanisms")
  void aForkBombIsContained(Sandbox.Mechanism m) throws Exception {
    long t0 = System.nanoTime();
    // half the default process limit: where orphans' zombies wait long to be reaped (they count
    // against the user's limit), the tests after this one still have processes to spare
    Sandbox.Limits d = Sandbox.Limits.defaults();
    Sandbox.Limits half = new Sandbox.Limits(Duration.ofSeconds(2), d.cpuSeconds(),
        d.memoryBytes(), d.maxProcesses() / 2, d.maxFileBytes(), 64 * 1024, d.network());
    Verdict v = env(m, half, "forkbomb.sh").verify(TASK, "42");
    assertThat(v.success()).isFalse();
    assertThat(v.kind()).isIn("grader_limit", "grader_timeout", "grader_crash");
    assertThat(seconds(t0)).isLessThan(6);
    List<ProcessHandle> left = alive("forkbomb.sh");
    // the tests after this one need the grader's user to have processes to spare: a bomb that
    // outlived its sandbox keeps forking, so it is killed round after round
    int killed = killAll("forkbomb.sh");
    if (m == Sandbox.Mechanism.PROCESS_TREE && !Sandbox.ownSession()) {
      System.err.println("ExternalEnvironmentTest: without setsid, " + killed + " processes of a "
          + "fork bomb outlived the process-tree fallback (killed by the test)");
      return;
    }
    assertThat(left).as("processes of the fork bomb").isEmpty();
  }

  /** Kills the processes whose command line contains {@code marker} until none is left. */
  private static int killAll(String marker) throws InterruptedException {
    int killed = 0;
    for (int round = 0; round < 50; round++) {
      List<ProcessHandle> left = alive(marker, 1);
      if (left.isEmpty()) {
        break;
      }
      left.forEach(ProcessHandle::destroyForcibly);
      killed += left.size();
      Thread.sleep(20);
    }
    return killed;
  }

  @ParameterizedTest
  @MethodSource("mechanisms")
  void aMemoryHogHitsTheMemoryLimit(Sandbox.Mechanism m) {
    assumeTrue(Sandbox.limitsEnforced(), "prlimit (util-linux) is not installed");
    long t0 = System.nanoTime();
    Verdict v = env(m, Sandbox.Limits.defaults().with(Duration.ofSeconds(8), 1 << 16),
        "memhog.sh").verify(TASK, "42");
    assertThat(v.kind()).isEqualTo("grader_limit");
    assertThat(v.feedback()).contains("memory limit 1024 MiB exceeded", "memory exhausted");
    assertThat(v.details()).containsEntry("limit", "memory");
    assertThat(seconds(t0)).isLessThan(8);
  }

  @ParameterizedTest
  @MethodSource("mechanisms")
  void writingOutsideItsDirectoryFails(Sandbox.Mechanism m) throws Exception {
    // a directory the sandbox shows (read-only); the JUnit one lives in /tmp, which it hides
    Path outside = Files.createTempDirectory(Path.of("target"), "outside-");
    Path target = outside.toAbsolutePath().resolve("escaped.txt");
    Verdict v = env(m, "outside.sh", target.toString()).verify(TASK, "42");
    boolean escaped = Files.exists(target);
    if (m != Sandbox.Mechanism.BWRAP && !isRoot()) {
      System.err.println("ExternalEnvironmentTest: without bubblewrap the grader runs as this "
          + "user, who may write here (" + m.id() + ", escaped: " + escaped + ")");
      Files.deleteIfExists(target);
      return;
    }
    assertThat(escaped).as("a file written outside the grader's directory").isFalse();
    assertThat(v.success()).isFalse();
    assertThat(v.feedback()).containsAnyOf("Read-only file system", "Permission denied");
    Files.deleteIfExists(target);
    Files.deleteIfExists(outside);
  }

  /**
   * A grader kept under /tmp (a checkout there, a script written there) still runs under
   * bubblewrap's private /tmp: what its command line names and its working directory are bound
   * back in, read-only; the rest of the host's /tmp stays hidden.
   */
  @ParameterizedTest
  @MethodSource("mechanisms")
  void aGraderUnderTmpStillRunsAndTheRestOfTmpStaysHidden(Sandbox.Mechanism m) throws Exception {
    Path tmp = Path.of("/tmp");
    assumeTrue(Files.isDirectory(tmp) && Files.isWritable(tmp));
    Path home = Files.createTempDirectory(tmp, "sdpo-grader-home-");
    Path secret = Files.createTempFile(tmp, "sdpo-not-for-graders-", ".txt");
    try {
      for (String s : List.of("good.sh", "peek.sh")) {
        Path copy = home.resolve(s);
        Files.copy(Path.of(script(s)), copy);
        copy.toFile().setReadable(true, false);
      }
      home.toFile().setReadable(true, false);
      home.toFile().setExecutable(true, false);
      Sandbox.Limits limits = Sandbox.Limits.defaults().with(Duration.ofSeconds(5), 64 * 1024);
      ExternalEnvironment byPath = new ExternalEnvironment(
          List.of("sh", home.resolve("good.sh").toString()), List.of(TASK), FeedbackLevel.FULL,
          limits, m, null);
      assertThat(byPath.verify(TASK, "42").success()).as(byPath.verify(TASK, "42").feedback())
          .isTrue();
      ExternalEnvironment inDir = new ExternalEnvironment(List.of("sh", "good.sh"),
          List.of(TASK), FeedbackLevel.FULL, limits, m, home);
      assertThat(inDir.verify(TASK, "42").success()).as(inDir.verify(TASK, "42").feedback())
          .isTrue();
      // named on the command line: bound in (read-only), so the grader sees it
      Verdict named = new ExternalEnvironment(List.of("sh", home.resolve("peek.sh").toString(),
          secret.toString()), List.of(TASK), FeedbackLevel.FULL, limits, m, null)
          .verify(TASK, "42");
      assertThat(named.feedback()).endsWith("visible");
      // not named (only inside a shell script's text): hidden by the private /tmp
      Verdict unnamed = new ExternalEnvironment(List.of("sh", "-c", "cat > /dev/null; "
          + "if [ -e '" + secret + "' ]; then f=visible; else f=hidden; fi; "
          + "echo '{\"reward\": 0, \"success\": false, \"feedback\": \"'$f'\"}'"),
          List.of(TASK), FeedbackLevel.FULL, limits, m, null).verify(TASK, "42");
      assertThat(unnamed.feedback()).endsWith(m == Sandbox.Mechanism.BWRAP ? "hidden" : "visible");
    } finally {
      Files.deleteIfExists(secret);
      try (var files = Files.list(home)) {
        for (Path f : files.toList()) {
          Files.delete(f);
        }
      }
      Files.delete(home);
    }
  }

  @ParameterizedTest
  @MethodSource("mechanisms")
  void theGraderHasNoNetwork(Sandbox.Mechanism m) throws Exception {
    assumeTrue(Files.isExecutable(Path.of("/bin/bash")) || Files.isExecutable(Path.of(
        "/usr/bin/bash")), "bash (for /dev/tcp) is not installed");
    AtomicBoolean connected = new AtomicBoolean();
    try (ServerSocket server = new ServerSocket(0)) {
      server.setSoTimeout(200);
      Thread accept = new Thread(() -> {
        for (int i = 0; i < 25 && !connected.get(); i++) {
          try (var s = server.accept()) {
            connected.set(true);
          } catch (SocketTimeoutException e) {
            // keep listening while the grader runs
          } catch (java.io.IOException e) {
            return;
          }
        }
      });
      accept.start();
      Verdict v = env(m, "network.sh", Integer.toString(server.getLocalPort()))
          .verify(TASK, "42");
      accept.join();
      if (m == Sandbox.Mechanism.PROCESS_TREE) {
        System.err.println("ExternalEnvironmentTest: the fallback cannot take the network away "
            + "(connected: " + connected.get() + ")");
        return;
      }
      assertThat(connected.get()).as("a connection from the grader").isFalse();
      assertThat(v.success()).isFalse();
      // its own namespace: 127.0.0.1 is the sandbox's loopback (bubblewrap) or no network at all
      assertThat(v.feedback()).as(() -> "the grader's feedback (" + processesOfNobody() + ")")
          .containsAnyOf("Connection refused", "Network is unreachable");
    }
  }

  @ParameterizedTest
  @MethodSource("mechanisms")
  void thePrivateDirectoryIsRemovedAfterwards(Sandbox.Mechanism m) {
    Verdict v = env(m, "scratch.sh").verify(TASK, "42");
    assertThat(v.success()).as(v.feedback()).isTrue();
    Path scratch = Path.of((String) v.details().get("dir"));
    assertThat(v.details().get("home")).isEqualTo(scratch.toString());
    assertThat(scratch).doesNotExist();
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
    assertThat(vs).hasSize(8).allMatch(Verdict::success);
    assertThat(seconds(t0)).as("8 graders of 0.4 s in parallel").isLessThan(8 * 0.4);
    List<Verdict> mixed = Verifiers.verifyAll(env("good.sh"), List.of(TASK, TASK, TASK),
        List.of("42", "41", "42"), 3);
    assertThat(mixed).extracting(Verdict::success).containsExactly(true, false, true);
  }

  @Test
  void missingGraderIsAFailedVerdict() {
    ExternalEnvironment env = ExternalEnvironment.of(List.of("/nonexistent/grader"), List.of(TASK),
        FeedbackLevel.FULL);
    Verdict v = env.verify(TASK, "42");
    assertThat(v.kind()).isEqualTo("grader_error");
    assertThat(v.feedback()).contains("could not start the grader", "/nonexistent/grader");
  }

  @Test
  void everyMechanismBuildsACommandThatRuns() throws Exception {
    for (Sandbox.Mechanism m : Sandbox.Mechanism.values()) {
      if (m.ordinal() < MECHANISM.ordinal()) {
        continue; // stronger than this machine allows
      }
      ExternalEnvironment e = new ExternalEnvironment(List.of("sh", script("good.sh")),
          List.of(TASK), FeedbackLevel.FULL, Sandbox.Limits.defaults(), m, null);
      Verdict v = e.verify(TASK, "42");
      assertThat(v.success()).as(m + ": " + v.feedback()).isTrue();
      assertThat(v.details()).containsEntry("sandbox", m.id());
    }
  }

  private static boolean isRoot() {
    return "root".equals(System.getProperty("user.name"));
  }
}
