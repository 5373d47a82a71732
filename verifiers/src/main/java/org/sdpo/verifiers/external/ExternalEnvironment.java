package org.sdpo.verifiers.external;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.sdpo.verifiers.Environment;
import org.sdpo.verifiers.FeedbackLevel;
import org.sdpo.verifiers.Split;
import org.sdpo.verifiers.Task;
import org.sdpo.verifiers.TeachingExample;
import org.sdpo.verifiers.Verdict;
import org.sdpo.verifiers.Verifiers;
import org.sdpo.verifiers.json.Json;
import org.sdpo.verifiers.json.JsonException;

/**
 * Plugs in any real grader: a command run once per attempt, which reads {@code {"task": {...},
 * "attempt": "..."}} as JSON on standard input and writes a verdict JSON on standard output:
 * {@code {"reward": 0..1, "success": bool, "feedback": "...", "summary": "...", "details": {...}}}
 * ({@code success} defaults to reward &gt;= 1, {@code summary} to "Failed").
 *
 * <p>Each attempt is graded in a {@link Sandbox}: its own PID namespace (everything the grader
 * starts dies with it, daemons included), no network, a read-only file system but for a private
 * working directory that is removed afterwards (with bubblewrap), limits on wall-clock and CPU
 * time, memory, processes, file size and output. A crash, a timeout, a limit hit or malformed
 * output becomes a failed verdict whose feedback says which ("memory limit 1024 MiB exceeded").
 * Tasks come from a JSONL file.
 */
public final class ExternalEnvironment implements Environment {
  private final List<String> command;
  private final List<Task> tasks;
  private final FeedbackLevel level;
  private final Sandbox.Limits limits;
  private final Sandbox.Mechanism mechanism;
  private final Path workDir;
  private final Duration timeout;
  private final int maxOutputBytes;

  /**
   * A grader run in {@code workDir} (null: the current directory) under the given limits,
   * contained by {@code mechanism} (null: the strongest this machine allows).
   */
  public ExternalEnvironment(List<String> command, List<Task> tasks, FeedbackLevel level,
      Sandbox.Limits limits, Sandbox.Mechanism mechanism, Path workDir) {
    if (command.isEmpty()) {
      throw new IllegalArgumentException("external: the grader command is empty");
    }
    this.command = List.copyOf(command);
    this.tasks = List.copyOf(tasks);
    this.level = Verifiers.standardLevel("external", level);
    this.limits = limits;
    this.mechanism = mechanism != null ? mechanism : Sandbox.detect();
    this.workDir = workDir;
    this.timeout = limits.timeout();
    this.maxOutputBytes = limits.maxOutputBytes();
    Sandbox.warnOnce(this.mechanism);
  }

  /** The default limits with this timeout and output cap, the strongest containment here. */
  public ExternalEnvironment(List<String> command, List<Task> tasks, FeedbackLevel level,
      Duration timeout, int maxOutputBytes, Path workDir) {
    this(command, tasks, level, Sandbox.Limits.defaults().with(timeout, maxOutputBytes), null,
        workDir);
  }

  /** A grader with the default limits (10 s, 1 MiB of output), run in the current directory. */
  public static ExternalEnvironment of(List<String> command, List<Task> tasks, FeedbackLevel level) {
    return new ExternalEnvironment(command, tasks, level, Sandbox.Limits.defaults(), null, null);
  }

  /** How this environment contains its graders. */
  public Sandbox.Mechanism mechanism() {
    return mechanism;
  }

  public Sandbox.Limits limits() {
    return limits;
  }

  @Override
  public String name() {
    return "external";
  }

  @Override
  public FeedbackLevel feedback() {
    return level;
  }

  @Override
  public Environment withFeedback(FeedbackLevel l) {
    return new ExternalEnvironment(command, tasks, l, limits, mechanism, workDir);
  }

  @Override
  public int maxDifficulty() {
    return tasks.stream().mapToInt(Task::difficulty).max().orElse(0);
  }

  /** Tasks of the file: those of the split (and difficulty, unless 0), cycling from seed. */
  @Override
  public List<Task> tasks(Split split, int n, long seed, int difficulty) {
    List<Task> pool = tasks.stream().filter(t -> t.split() == split)
        .filter(t -> difficulty == 0 || t.difficulty() == difficulty).toList();
    if (pool.isEmpty()) {
      throw new IllegalArgumentException("external: the task file has no " + split.id() + " tasks"
          + (difficulty == 0 ? "" : " of difficulty " + difficulty));
    }
    List<Task> out = new ArrayList<>();
    int start = (int) Math.floorMod(seed, (long) pool.size());
    for (int i = 0; i < n; i++) {
      out.add(pool.get((start + i) % pool.size()));
    }
    return out;
  }

  @Override
  public List<TeachingExample> teaching(Split split, int n, long seed) {
    return List.of(); // an external grader brings no generator of wrong attempts
  }

  @Override
  public Verdict verify(Task task, String attempt) {
    Path scratch;
    try {
      scratch = Sandbox.newWorkDir(null);
    } catch (IOException e) {
      return failure("grader_error", "could not create the grader's working directory: "
          + e.getMessage());
    }
    try {
      return run(task, attempt, scratch);
    } finally {
      Sandbox.removeTree(scratch);
    }
  }

  private Verdict run(Task task, String attempt, Path scratch) {
    Map<String, Object> input = new LinkedHashMap<>();
    input.put("task", task.toMap());
    input.put("attempt", attempt);
    byte[] stdin = Json.write(input).getBytes(StandardCharsets.UTF_8);
    Process p;
    try {
      ProcessBuilder pb = new ProcessBuilder(Sandbox.command(mechanism, command, scratch, workDir,
          limits));
      if (workDir != null) {
        pb.directory(workDir.toFile());
      }
      p = pb.start();
    } catch (IOException e) {
      return failure("grader_error", "could not start the grader " + command + ": " + e.getMessage());
    }
    Capture out = new Capture(p.getInputStream(), maxOutputBytes, () -> kill(p));
    Capture err = new Capture(p.getErrorStream(), 64 * 1024, null);
    Thread writer = daemon(() -> {
      try (OutputStream os = p.getOutputStream()) {
        os.write(stdin);
      } catch (IOException e) {
        // the grader closed its input early; what it printed still counts
      }
    });
    Thread outT = daemon(out);
    Thread errT = daemon(err);
    boolean finished;
    try {
      finished = p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS);
      if (finished && !out.overflow) {
        outT.join(timeout.toMillis());
        errT.join(1000);
      }
    } catch (InterruptedException e) {
      kill(p);
      Thread.currentThread().interrupt();
      return failure("grader_error", "interrupted while waiting for the grader");
    }
    if (!finished || out.overflow) {
      kill(p);
      writer.interrupt();
      if (out.overflow) {
        return failure("grader_error", "output limit: the grader wrote more than "
            + maxOutputBytes + " bytes; it was stopped", "output");
      }
      return failure("grader_timeout", String.format(java.util.Locale.ROOT,
          "wall-clock limit: the grader did not answer within %.1f s; it was stopped",
          timeout.toMillis() / 1000.0), "wall_clock");
    }
    kill(p); // the process-tree fallback: whatever is left of the tree and its session
    String stderr = err.text();
    int code = p.exitValue();
    int marker = stderr.lastIndexOf(Sandbox.STATUS_MARKER);
    if (marker >= 0) { // the wrapper's report of the grader's own status
      try {
        code = Integer.parseInt(stderr.substring(marker + Sandbox.STATUS_MARKER.length()).trim());
      } catch (NumberFormatException e) {
        // keep the sandbox's exit code
      }
      stderr = stderr.substring(0, marker).strip();
    }
    if ((code == 126 || code == 127) && stderr.contains(command.get(0))) {
      // the sandbox could not run the command: a missing or non-executable grader
      String why = stderr.contains("failed to execute") ? stderr.substring(stderr.indexOf(
          "failed to execute") + "failed to execute".length()).strip() : tail(stderr, 200);
      return failure("grader_error", "could not start the grader " + command + ": " + why);
    }
    if (code != 0) {
      String limit = limitHit(code, stderr);
      String tail = tail(stderr, 400);
      if (limit != null) {
        return failure("grader_limit", limitMessage(limit) + (tail.isEmpty() ? "" : ": " + tail),
            limit);
      }
      return failure("grader_crash", "the grader exited with code " + code
          + (tail.isEmpty() ? "" : ": " + tail));
    }
    return parseVerdict(out.text());
  }

  /** Which limit a failed grader hit, from its exit status and what it wrote, or null. */
  String limitHit(int code, String stderr) {
    String e = stderr.toLowerCase(java.util.Locale.ROOT);
    if (code == 128 + 24 || (code == 128 + 9 && limits.cpuSeconds() > 0
        && e.isBlank())) { // SIGXCPU at the soft limit, SIGKILL at the hard one
      return "cpu";
    }
    if (code == 128 + 25 || e.contains("file too large")) { // SIGXFSZ
      return "file_size";
    }
    if (e.contains("memoryerror") || e.contains("cannot allocate memory")
        || e.contains("memory exhausted") || e.contains("bad_alloc") || e.contains("out of memory")) {
      return "memory";
    }
    if (e.contains("resource temporarily unavailable") || e.contains("cannot fork")
        || e.contains("fork: retry") || e.contains("blockingioerror")) {
      return "processes";
    }
    return null;
  }

  private String limitMessage(String limit) {
    return switch (limit) {
      case "cpu" -> "CPU time limit " + limits.cpuSeconds() + " s exceeded";
      case "file_size" -> "file size limit " + (limits.maxFileBytes() >> 20) + " MiB exceeded";
      case "memory" -> "memory limit " + (limits.memoryBytes() >> 20) + " MiB exceeded";
      default -> "process limit " + limits.maxProcesses() + " exceeded";
    };
  }

  private static String tail(String s, int chars) {
    String t = s.strip();
    return t.length() <= chars ? t : "..." + t.substring(t.length() - chars);
  }

  private Verdict parseVerdict(String text) {
    Map<String, Object> m;
    try {
      m = Json.parseObject(text.trim());
    } catch (JsonException e) {
      String shown = text.length() > 80 ? text.substring(0, 77) + "..." : text;
      return failure("grader_malformed", "malformed grader output (" + e.getMessage() + "): "
          + shown.strip());
    }
    Object reward = m.get("reward");
    if (!(reward instanceof Number)) {
      return failure("grader_malformed", "grader output has no numeric \"reward\"");
    }
    double r = ((Number) reward).doubleValue();
    if (!(r >= 0 && r <= 1)) {
      return failure("grader_malformed", "grader reward " + reward + " is outside [0, 1]");
    }
    Object success = m.getOrDefault("success", r >= 1);
    if (!(success instanceof Boolean)) {
      return failure("grader_malformed", "grader \"success\" must be true or false");
    }
    Object fb = m.getOrDefault("feedback", "");
    Object summary = m.getOrDefault("summary", "Failed");
    Object details = m.getOrDefault("details", Map.of());
    if (!(fb instanceof String) || !(summary instanceof String) || !(details instanceof Map)) {
      return failure("grader_malformed",
          "grader \"feedback\" and \"summary\" must be strings and \"details\" an object");
    }
    @SuppressWarnings("unchecked")
    Map<String, Object> d = (Map<String, Object>) details;
    boolean ok = (Boolean) success;
    String feedback = ok ? "" : Verifiers.feedbackAt(level, (String) summary, (String) fb);
    Map<String, Object> withSandbox = new LinkedHashMap<>(d);
    withSandbox.putIfAbsent("sandbox", mechanism.id());
    return new Verdict(r, ok, feedback, ok ? "pass" : "fail", withSandbox);
  }

  private Verdict failure(String kind, String why) {
    return failure(kind, why, null);
  }

  private Verdict failure(String kind, String why, String limit) {
    Map<String, Object> d = Verifiers.details("reason", why, "sandbox", mechanism.id());
    if (limit != null) {
      d.put("limit", limit);
    }
    return Verdict.fail(kind, Verifiers.feedbackAt(level, "Grader Error", why), d);
  }

  /**
   * Kills the grader and every process it started. In a namespace (bubblewrap, unshare) the
   * kernel does the rest; the process-tree fallback also kills the grader's session, which holds
   * the orphans that left its tree.
   */
  private void kill(Process p) {
    killTree(p);
    if (mechanism == Sandbox.Mechanism.PROCESS_TREE && Sandbox.ownSession()) {
      Sandbox.killSession(p.pid());
    }
  }

  /** Kills the grader and every process it started (snapshot first: orphans leave the tree). */
  static void killTree(Process p) {
    List<ProcessHandle> all = new ArrayList<>(p.descendants().toList());
    p.destroyForcibly();
    for (ProcessHandle h : List.copyOf(all)) {
      all.addAll(h.descendants().toList());
    }
    all.forEach(ProcessHandle::destroyForcibly);
  }

  private static Thread daemon(Runnable r) {
    Thread t = new Thread(r, "external-grader-io");
    t.setDaemon(true);
    t.start();
    return t;
  }

  /** Reads a stream to the end, keeping at most {@code cap} bytes and noting any overflow. */
  private static final class Capture implements Runnable {
    private final InputStream in;
    private final int cap;
    private final ByteArrayOutputStream buf = new ByteArrayOutputStream();
    private final Runnable onOverflow;
    private volatile boolean overflow;

    Capture(InputStream in, int cap, Runnable onOverflow) {
      this.in = in;
      this.cap = cap;
      this.onOverflow = onOverflow;
    }

    @Override
    public void run() {
      byte[] b = new byte[8192];
      try {
        int n;
        while ((n = in.read(b)) > 0) {
          synchronized (buf) {
            int room = cap - buf.size();
            if (n > room) {
              buf.write(b, 0, room);
              overflow = true;
              if (onOverflow != null) {
                onOverflow.run(); // stop the grader now rather than at the timeout
              }
              return;
            }
            buf.write(b, 0, n);
          }
        }
      } catch (IOException e) {
        // the process was killed
      }
    }

    String text() {
      synchronized (buf) {
        return buf.toString(StandardCharsets.UTF_8);
      }
    }


  }
}
