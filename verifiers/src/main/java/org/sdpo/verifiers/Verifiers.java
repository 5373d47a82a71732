package org.sdpo.verifiers;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.sdpo.verifiers.addition.AdditionEnvironment;
import org.sdpo.verifiers.arith.ArithEnvironment;
import org.sdpo.verifiers.code.CodeEnvironment;
import org.sdpo.verifiers.json.Json;
import org.sdpo.verifiers.key.KeyEnvironment;
import org.sdpo.verifiers.json.JsonException;
import org.sdpo.verifiers.tool.ToolEnvironment;

/** Environment lookup, never-throwing verification, parallel grading and task files. */
public final class Verifiers {
  /** The longest attempt graded; longer ones fail with a "too long" verdict. */
  public static final int MAX_ATTEMPT_CHARS = 100_000;

  private Verifiers() {}

  /** The built-in environments' names. */
  public static List<String> builtIn() {
    return List.of("code", "arith", "tool", "addition", "key");
  }

  /** A built-in environment by name, at its natural feedback level. */
  public static Environment byName(String name) {
    switch (name) {
      case "code":
        return new CodeEnvironment(FeedbackLevel.FULL);
      case "arith":
        return new ArithEnvironment(FeedbackLevel.NONE);
      case "tool":
        return new ToolEnvironment(FeedbackLevel.FULL);
      case "addition":
        return new AdditionEnvironment();
      case "key":
        return new KeyEnvironment(FeedbackLevel.FULL);
      default:
        throw new IllegalArgumentException("unknown environment '" + name
            + "': expected one of " + builtIn() + " (or external with a command)");
    }
  }

  /**
   * {@link Environment#verify} with every failure turned into a verdict: an over-long attempt, a
   * null, or anything the environment throws (a {@code StackOverflowError} included) gives a failed
   * verdict that says why.
   */
  public static Verdict safeVerify(Environment env, Task task, String attempt) {
    if (attempt == null) {
      return Verdict.fail("format_error", feedbackFor(env, "Format Error", "empty attempt"),
          Map.of());
    }
    if (attempt.length() > MAX_ATTEMPT_CHARS) {
      return Verdict.fail("too_long", feedbackFor(env, "Output Limit Exceeded",
          "the attempt has " + attempt.length() + " characters; at most " + MAX_ATTEMPT_CHARS
              + " are graded"), Map.of("length", (long) attempt.length()));
    }
    try {
      return env.verify(task, attempt);
    } catch (StackOverflowError | OutOfMemoryError e) {
      return Verdict.fail("internal_error", feedbackFor(env, "Internal Error",
          "the attempt exhausted the verifier's " + (e instanceof StackOverflowError ? "stack" : "memory")),
          Map.of("error", e.getClass().getSimpleName()));
    } catch (RuntimeException e) {
      return Verdict.fail("internal_error", feedbackFor(env, "Internal Error",
          "the verifier failed: " + e), Map.of("error", e.getClass().getSimpleName()));
    }
  }

  /**
   * {@code level} if the environment offers it, else an error naming the levels it does (for
   * {@link Environment#withFeedback} implementations).
   */
  public static FeedbackLevel offered(Environment env, FeedbackLevel level) {
    if (!env.levels().contains(level)) {
      throw new IllegalArgumentException(env.name() + ": feedback level '" + level.id()
          + "' is not offered (offered: " + String.join(", ",
              env.levels().stream().map(FeedbackLevel::id).toList()) + ")");
    }
    return level;
  }

  /**
   * {@code level} if it is one of none, summary and full (the levels of environments without
   * levels of their own), else an error naming the environment.
   */
  public static FeedbackLevel standardLevel(String env, FeedbackLevel level) {
    if (level != FeedbackLevel.NONE && level != FeedbackLevel.SUMMARY && level != FeedbackLevel.FULL) {
      throw new IllegalArgumentException(env + ": feedback level '" + level.id()
          + "' is not offered (offered: none, summary, full)");
    }
    return level;
  }

  /** Feedback text at the environment's level from a summary and the full detail. */
  public static String feedbackFor(Environment env, String summary, String full) {
    return feedbackAt(env.feedback(), summary, full);
  }

  /**
   * Feedback text at a level from a summary and the detail: "" for none, the summary alone for
   * summary and unusable, the summary and the detail on two lines for partial and full (the
   * wording of failures every environment shares: an over-long attempt, an internal error).
   */
  public static String feedbackAt(FeedbackLevel level, String summary, String full) {
    switch (level) {
      case NONE:
        return "";
      case SUMMARY:
      case UNUSABLE:
        return summary;
      default:
        return full == null || full.isEmpty() ? summary : summary + "\n" + full;
    }
  }

  /**
   * Grades many (task, attempt) pairs on {@code threads} threads; the result list is in input
   * order and never contains an exception.
   */
  public static List<Verdict> verifyAll(Environment env, List<Task> tasks, List<String> attempts,
      int threads) {
    if (tasks.size() != attempts.size()) {
      throw new IllegalArgumentException(
          "verifyAll: " + tasks.size() + " tasks for " + attempts.size() + " attempts");
    }
    if (threads <= 1 || tasks.size() <= 1) {
      List<Verdict> out = new ArrayList<>();
      for (int i = 0; i < tasks.size(); i++) {
        out.add(safeVerify(env, tasks.get(i), attempts.get(i)));
      }
      return out;
    }
    ExecutorService pool = Executors.newFixedThreadPool(threads, r -> {
      Thread t = new Thread(r, "verifier");
      t.setDaemon(true);
      return t;
    });
    try {
      List<Future<Verdict>> futures = new ArrayList<>();
      for (int i = 0; i < tasks.size(); i++) {
        Task t = tasks.get(i);
        String a = attempts.get(i);
        futures.add(pool.submit(() -> safeVerify(env, t, a)));
      }
      List<Verdict> out = new ArrayList<>();
      for (Future<Verdict> f : futures) {
        out.add(f.get());
      }
      return out;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("verification interrupted", e);
    } catch (ExecutionException e) {
      throw new IllegalStateException("verification failed", e.getCause());
    } finally {
      pool.shutdownNow();
    }
  }

  // ---------------------------------------------------------------- task files

  /** Reads tasks from a JSONL file (one task object per line; blank lines skipped). */
  @SuppressWarnings("unchecked")
  public static List<Task> readTasks(Path file) throws IOException {
    List<String> lines = utf8Lines(file);
    List<Task> tasks = new ArrayList<>();
    for (int i = 0; i < lines.size(); i++) {
      String line = lines.get(i).trim();
      if (line.isEmpty()) {
        continue;
      }
      try {
        tasks.add(taskFromMap(Json.parseObject(line), file + ":" + (i + 1)));
      } catch (JsonException | IllegalArgumentException | ClassCastException e) {
        throw new IllegalArgumentException(file + ", line " + (i + 1) + ": " + e.getMessage(), e);
      }
    }
    return tasks;
  }

  /** The file's lines, strictly UTF-8; a file that is not names itself and its first bad byte. */
  private static List<String> utf8Lines(Path file) throws IOException {
    byte[] bytes = Files.readAllBytes(file);
    java.nio.ByteBuffer in = java.nio.ByteBuffer.wrap(bytes);
    try {
      return StandardCharsets.UTF_8.newDecoder().decode(in).toString().lines().toList();
    } catch (java.nio.charset.CharacterCodingException e) { // stopped where it could not read
      throw new IOException(String.format(java.util.Locale.ROOT,
          "%s: not UTF-8 text (byte 0x%02x at offset %d)", file, bytes[in.position()] & 0xff,
          in.position()), e);
    }
  }

  /** A task from its JSON map; {@code where} names the source in error messages. */
  @SuppressWarnings("unchecked")
  public static Task taskFromMap(Map<String, Object> m, String where) {
    Object prompt = m.get("prompt");
    if (!(prompt instanceof String)) {
      throw new IllegalArgumentException("task needs a string \"prompt\"");
    }
    Object env = m.getOrDefault("env", "");
    Object id = m.getOrDefault("id", where);
    Object data = m.getOrDefault("data", Map.of());
    if (!(data instanceof Map)) {
      throw new IllegalArgumentException("task \"data\" must be an object");
    }
    Object diff = m.getOrDefault("difficulty", 0L);
    Object split = m.getOrDefault("split", "train");
    Object ref = m.getOrDefault("reference", "");
    return new Task(String.valueOf(id), String.valueOf(env), (String) prompt, String.valueOf(ref),
        diff instanceof Number ? ((Number) diff).intValue() : 0, Split.parse(String.valueOf(split)),
        (Map<String, Object>) data);
  }

  /**
   * Writes tasks as JSONL, atomically: a hidden temporary sibling renamed into place, with the
   * permissions of the file it replaces (rw-r--r-- when new; a temporary file is created private),
   * and removed if the write fails.
   */
  public static void writeTasks(Path file, List<Task> tasks) throws IOException {
    StringBuilder sb = new StringBuilder();
    for (Task t : tasks) {
      sb.append(Json.write(t.toMap())).append('\n');
    }
    if (Files.isDirectory(file)) {
      throw new IOException("cannot write " + file + ": it is a directory");
    }
    Path dir = file.toAbsolutePath().getParent();
    Path tmp;
    try {
      Files.createDirectories(dir);
      tmp = Files.createTempFile(dir, "." + file.getFileName(), ".tmp");
    } catch (java.nio.file.FileAlreadyExistsException e) { // a file where a directory should be
      throw new IOException("cannot write " + file + ": " + e.getFile() + " is not a directory", e);
    } catch (java.nio.file.FileSystemException e) { // name the file, not its temporary sibling
      throw new IOException("cannot write " + file + ": " + (e.getReason() != null
          ? e.getReason().toLowerCase(java.util.Locale.ROOT)
          : e instanceof java.nio.file.AccessDeniedException ? "permission denied"
          : "no such file or directory"), e);
    }
    try {
      Files.writeString(tmp, sb, StandardCharsets.UTF_8);
      if (Files.getFileStore(tmp).supportsFileAttributeView(
          java.nio.file.attribute.PosixFileAttributeView.class)) {
        Files.setPosixFilePermissions(tmp, Files.exists(file) ? Files.getPosixFilePermissions(file)
            : java.nio.file.attribute.PosixFilePermissions.fromString("rw-r--r--"));
      }
      Files.move(tmp, file, java.nio.file.StandardCopyOption.REPLACE_EXISTING,
          java.nio.file.StandardCopyOption.ATOMIC_MOVE);
    } finally {
      Files.deleteIfExists(tmp);
    }
  }

  /** Details map helper: key/value pairs in order. */
  public static Map<String, Object> details(Object... kv) {
    Map<String, Object> m = new LinkedHashMap<>();
    for (int i = 0; i + 1 < kv.length; i += 2) {
      m.put(String.valueOf(kv[i]), kv[i + 1]);
    }
    return m;
  }
}
