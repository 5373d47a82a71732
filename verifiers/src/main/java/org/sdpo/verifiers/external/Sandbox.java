package org.sdpo.verifiers.external;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;

/**
 * Containment of one grader run with existing, well-kept tools instead of our own native code:
 *
 * <ul>
 *   <li>{@link Mechanism#BWRAP} (bubblewrap, when installed and permitted): new PID, IPC, UTS
 *       and (by default) network namespaces, the whole file system read-only but for the
 *       attempt's private directory and a private {@code /tmp} (in which the grader's working
 *       directory and the files its command line names stay visible, read-only); when the sandbox's first process
 *       ends, the kernel kills everything it started, daemons included;
 *   <li>{@link Mechanism#UNSHARE} (util-linux): new PID and (by default) network namespaces with
 *       the same kill-everything guarantee, but no read-only view of the file system;
 *   <li>{@link Mechanism#PROCESS_TREE}: neither works here: the grader runs in a session of its
 *       own ({@code setsid}, util-linux) and, when it ends or times out, its process tree and
 *       every process left in that session are killed (orphans included, a fork bomb's too); a
 *       process that starts a session of its own (a daemon) outlives it, and a one-time warning
 *       says what is missing.
 * </ul>
 *
 * Under every mechanism the grader runs with resource limits set by {@code prlimit} (CPU
 * seconds, address space, processes, file size), as the user {@code nobody} when started as root
 * (so that root's exemption from the process limit does not apply and it can write nothing of
 * anyone's), with its private directory as {@code HOME}, {@code TMPDIR} and {@code
 * SDPO_WORKDIR}; its working directory stays the one the command was given in, read-only.
 */
public final class Sandbox {
  /** How graders are contained, from strongest to weakest. */
  public enum Mechanism {
    BWRAP,
    UNSHARE,
    PROCESS_TREE;

    public String id() {
      return name().toLowerCase(Locale.ROOT);
    }

    /**
     * {@code auto} (null: the strongest this machine allows) or a mechanism by its {@link #id()};
     * anything else is an error naming {@code what} (the option it came from).
     */
    public static Mechanism parse(String what, String name) {
      if (name.equals("auto")) {
        return null;
      }
      for (Mechanism m : values()) {
        if (m.id().equals(name)) {
          return m;
        }
      }
      throw new IllegalArgumentException(what + " must be auto, bwrap, unshare or process_tree, "
          + "got " + name);
    }
  }

  /**
   * The limits of one grader run.
   *
   * @param timeout wall-clock time
   * @param cpuSeconds CPU time (0: none)
   * @param memoryBytes address space (0: none)
   * @param maxProcesses processes and threads of the grader's user (0: none); as root the grader
   *     runs as {@code nobody} and the limit is shared by graders running at the same time
   * @param maxFileBytes largest file the grader may write (0: none)
   * @param maxOutputBytes standard output kept; more stops the grader
   * @param network whether the grader may use the network
   */
  public record Limits(Duration timeout, int cpuSeconds, long memoryBytes, int maxProcesses,
      long maxFileBytes, int maxOutputBytes, boolean network) {
    public Limits {
      if (timeout.isNegative() || timeout.isZero()) {
        throw new IllegalArgumentException("sandbox: timeout must be positive, got " + timeout);
      }
      if (cpuSeconds < 0 || memoryBytes < 0 || maxProcesses < 0 || maxFileBytes < 0
          || maxOutputBytes < 1) {
        throw new IllegalArgumentException("sandbox: limits must be >= 0 (0: none) and the output"
            + " cap >= 1");
      }
    }

    /**
     * Defaults for untrusted code: 10 s wall clock, 10 s CPU, 1 GiB of address space, 64
     * processes, 64 MiB files, 1 MiB of output, no network.
     */
    public static Limits defaults() {
      return new Limits(Duration.ofSeconds(10), 10, 1L << 30, 64, 64L << 20, 1 << 20, false);
    }

    /** Limits as users give them: seconds, MiB and KiB (0: none, but for the wall clock). */
    public static Limits of(double timeoutSeconds, int cpuSeconds, long memoryMib,
        int maxProcesses, long maxFileMib, int maxOutputKib, boolean network) {
      return new Limits(Duration.ofMillis((long) (timeoutSeconds * 1000)), cpuSeconds,
          memoryMib << 20, maxProcesses, maxFileMib << 20, maxOutputKib << 10, network);
    }

    /** The same limits with another timeout and output cap. */
    public Limits with(Duration t, int outputBytes) {
      return new Limits(t, cpuSeconds, memoryBytes, maxProcesses, maxFileBytes, outputBytes,
          network);
    }
  }

  private static volatile Mechanism detected;
  private static volatile boolean warned;
  private static volatile Boolean prlimit;
  private static volatile Boolean setpriv;
  private static volatile Boolean setsid;

  /** Whether util-linux's prlimit is here (without it only the wall clock and output are limited). */
  public static boolean limitsEnforced() {
    Boolean p = prlimit;
    if (p == null) {
      p = works(List.of("prlimit", "--version"));
      prlimit = p;
    }
    return p;
  }

  private static boolean canDropPrivileges() {
    Boolean p = setpriv;
    if (p == null) {
      p = root() && works(List.of("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
          "true"));
      setpriv = p;
    }
    return p;
  }

  /**
   * Whether the process-tree fallback can give the grader a session of its own (util-linux's
   * {@code setsid}), so that {@link #killSession} finds the processes that left its tree.
   */
  public static boolean ownSession() {
    Boolean s = setsid;
    if (s == null) {
      s = works(List.of("setsid", "--wait", "true"));
      setsid = s;
    }
    return s;
  }

  /**
   * Kills every process in session {@code sid} (a grader started by {@code setsid}, whose pid is
   * the session's id), round after round until none is left or a second has passed: a fork bomb
   * forks while it is being killed. Reads {@code /proc}; elsewhere it does nothing. A session's id
   * is not given to a new process while any process of the session lives.
   */
  static void killSession(long sid) {
    long deadline = System.nanoTime() + 1_000_000_000L;
    while (System.nanoTime() < deadline) {
      List<ProcessHandle> members = ProcessHandle.allProcesses()
          .filter(h -> session(h.pid()) == sid).toList();
      if (members.isEmpty()) {
        return;
      }
      members.forEach(ProcessHandle::destroyForcibly);
    }
  }

  /** The session id of process {@code pid} from {@code /proc/<pid>/stat}, or -1. */
  private static long session(long pid) {
    try {
      String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
      // pid (comm) state ppid pgrp session ...; comm may hold spaces and parentheses
      String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ", 5);
      return f[0].equals("Z") ? -1 : Long.parseLong(f[3]);
    } catch (IOException | RuntimeException e) {
      return -1; // gone, unreadable, or no /proc here
    }
  }

  private Sandbox() {}

  /** The strongest mechanism that works on this machine (probed once, then cached). */
  public static Mechanism detect() {
    Mechanism m = detected;
    if (m == null) {
      synchronized (Sandbox.class) {
        if (detected == null) {
          detected = probe();
        }
        m = detected;
      }
    }
    return m;
  }

  private static Mechanism probe() {
    if (works(List.of("bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
        "--unshare-pid", "--unshare-net", "--die-with-parent", "true"))) {
      return Mechanism.BWRAP;
    }
    if (works(unsharePrefix(true)) || works(concat(List.of("unshare", "--user",
        "--map-root-user"), unsharePrefix(true).subList(1, unsharePrefix(true).size())))) {
      return Mechanism.UNSHARE;
    }
    return Mechanism.PROCESS_TREE;
  }

  /** What is missing for full containment, or null when bubblewrap works. */
  public static String missing(Mechanism m) {
    return switch (m) {
      case BWRAP -> null;
      case UNSHARE -> "bubblewrap (bwrap) is not installed or not permitted here, so graders get "
          + "PID and network namespaces from unshare but no read-only file system; install it "
          + "with 'apt-get install bubblewrap' (Debian/Ubuntu) or 'dnf install bubblewrap'";
      case PROCESS_TREE -> "neither bubblewrap nor unshare can create namespaces here, so a "
          + "grader's processes that start a session of their own (daemons) can outlive it and "
          + "nothing is isolated; install bubblewrap ('apt-get install bubblewrap') or allow "
          + "user namespaces";
    };
  }

  /** Prints {@link #missing} (and a missing prlimit) to standard error once per process. */
  static void warnOnce(Mechanism m) {
    String why = missing(m);
    if (!limitsEnforced()) {
      why = (why == null ? "" : why + "; ") + "prlimit (util-linux) is missing, so graders run "
          + "without CPU, memory, process and file-size limits";
    }
    if (why != null && !warned) {
      warned = true;
      System.err.println("sdpo: warning: " + why);
    }
  }

  private static boolean works(List<String> cmd) {
    try {
      Process p = new ProcessBuilder(cmd).redirectErrorStream(true)
          .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
      if (!p.waitFor(5, TimeUnit.SECONDS)) {
        p.destroyForcibly();
        return false;
      }
      return p.exitValue() == 0;
    } catch (IOException e) {
      return false;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return false;
    }
  }

  private static List<String> unsharePrefix(boolean probeOnly) {
    List<String> c = new ArrayList<>(List.of("unshare", "--pid", "--fork", "--kill-child"));
    if (probeOnly) {
      c.add("--net");
      c.add("true");
    }
    return c;
  }

  private static List<String> concat(List<String> a, List<String> b) {
    List<String> c = new ArrayList<>(a);
    c.addAll(b);
    return c;
  }

  private static boolean isRoot() {
    try {
      Process p = new ProcessBuilder("id", "-u").redirectErrorStream(true).start();
      String out = new String(p.getInputStream().readAllBytes()).trim();
      return p.waitFor() == 0 && out.equals("0");
    } catch (IOException e) {
      return false;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return false;
    }
  }

  private static volatile Boolean root;

  static boolean root() {
    Boolean r = root;
    if (r == null) {
      r = isRoot();
      root = r;
    }
    return r;
  }

  /** The marker the wrapper writes to standard error with the grader's exit status. */
  static final String STATUS_MARKER = "sdpo-sandbox-status ";

  /**
   * The command line that runs {@code grader} contained by {@code m} under the limits, with
   * {@code workDir} as its private writable directory and {@code cwd} as its working directory.
   */
  static List<String> command(Mechanism m, List<String> grader, Path workDir, Path cwd,
      Limits l) {
    List<String> inner = new ArrayList<>();
    if (canDropPrivileges()) { // as nobody: the process limit applies, nothing of anyone's is writable
      inner.addAll(List.of("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
          "--inh-caps=-all", "--"));
    }
    if (limitsEnforced()) {
      inner.add("prlimit");
      if (l.cpuSeconds() > 0) { // soft limit sends SIGXCPU, the hard one a second later SIGKILL
        inner.add("--cpu=" + l.cpuSeconds() + ":" + (l.cpuSeconds() + 1));
      }
      if (l.memoryBytes() > 0) {
        inner.add("--as=" + l.memoryBytes());
      }
      if (l.maxProcesses() > 0) {
        inner.add("--nproc=" + l.maxProcesses());
      }
      if (l.maxFileBytes() > 0) {
        inner.add("--fsize=" + l.maxFileBytes());
      }
      inner.add("--");
    }
    inner.addAll(grader);
    // a shell as the sandbox's first process: it waits for the grader and reports its status
    // (128 + signal for a grader killed by a signal) after everything the grader wrote
    List<String> shell = new ArrayList<>(List.of("/bin/sh", "-c",
        "\"$@\"; s=$?; printf '\\n" + STATUS_MARKER + "%d\\n' \"$s\" >&2; exit \"$s\"",
        "sdpo-sandbox"));
    shell.addAll(inner);
    String w = workDir.toAbsolutePath().toString();
    List<String> out = new ArrayList<>();
    switch (m) {
      case BWRAP -> {
        out.addAll(List.of("bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
            "--tmpfs", "/tmp"));
        out.addAll(keepVisible(underTmp(grader, cwd)));
        out.addAll(List.of("--bind", w, w, "--unshare-pid", "--unshare-ipc", "--unshare-uts",
            "--die-with-parent", "--new-session", "--setenv", "HOME", w, "--setenv", "TMPDIR", w,
            "--setenv", "SDPO_WORKDIR", w));
        if (!l.network()) {
          out.add("--unshare-net");
        }
        out.add("--");
      }
      case UNSHARE -> {
        if (!root()) {
          out.addAll(List.of("unshare", "--user", "--map-root-user"));
          out.addAll(unsharePrefix(false).subList(1, 4));
        } else {
          out.addAll(unsharePrefix(false));
        }
        if (!l.network()) {
          out.add("--net");
        }
        out.add("--");
        out.addAll(List.of("env", "HOME=" + w, "TMPDIR=" + w, "SDPO_WORKDIR=" + w));
      }
      default -> {
        if (ownSession()) { // the grader's pid becomes its session's id (see killSession)
          out.addAll(List.of("setsid", "--wait"));
        }
        out.addAll(List.of("env", "HOME=" + w, "TMPDIR=" + w, "SDPO_WORKDIR=" + w));
      }
    }
    out.addAll(shell);
    return out;
  }

  /**
   * What the private {@code /tmp} would hide from a grader but it needs: its working directory and
   * every existing file or directory its command line names (absolute, or relative to the working
   * directory), where they lie under {@code /tmp} (a checkout or a grader script there). Bound
   * read-only, outermost first; everything else in the host's {@code /tmp} stays hidden.
   */
  static List<String> underTmp(List<String> grader, Path cwd) {
    Path tmp = Path.of("/tmp");
    Path dir = (cwd == null ? Path.of("") : cwd).toAbsolutePath().normalize();
    java.util.TreeSet<Path> keep = new java.util.TreeSet<>();
    keep.add(dir);
    for (String arg : grader) {
      try {
        keep.add(dir.resolve(arg).normalize());
      } catch (java.nio.file.InvalidPathException e) {
        // not a path (a flag, code, a NUL): nothing to keep
      }
    }
    List<String> out = new ArrayList<>();
    List<Path> kept = new ArrayList<>();
    for (Path p : keep) { // sorted: a directory comes before what lies inside it
      if (!p.startsWith(tmp) || p.equals(tmp) || !Files.exists(p)
          || kept.stream().anyMatch(p::startsWith)) {
        continue;
      }
      kept.add(p);
      out.add(p.toString());
    }
    return out;
  }

  /**
   * bubblewrap arguments that bind {@code paths} read-only into the private /tmp. The directories
   * above each are made first with {@code --dir} (mode 0755): bubblewrap would otherwise create
   * them with mode 0700, and a grader running as nobody could not reach what lies below.
   */
  private static List<String> keepVisible(List<String> paths) {
    List<String> out = new ArrayList<>();
    java.util.Set<Path> made = new java.util.HashSet<>();
    Path tmp = Path.of("/tmp");
    for (String s : paths) {
      Path p = Path.of(s);
      List<Path> above = new ArrayList<>();
      for (Path a = p.getParent(); a != null && !a.equals(tmp); a = a.getParent()) {
        above.add(0, a);
      }
      for (Path a : above) {
        if (made.add(a)) {
          out.addAll(List.of("--dir", a.toString()));
        }
      }
      out.addAll(List.of("--ro-bind", s, s));
    }
    return out;
  }

  /** A private writable directory for one attempt (owned by nobody when graders run as nobody). */
  static Path newWorkDir(Path parent) throws IOException {
    Path d = parent == null ? Files.createTempDirectory("sdpo-grader-")
        : Files.createTempDirectory(parent, "sdpo-grader-");
    if (canDropPrivileges()) {
      try {
        Files.setAttribute(d, "unix:uid", 65534);
        Files.setAttribute(d, "unix:gid", 65534);
      } catch (UnsupportedOperationException | IOException e) {
        d.toFile().setWritable(true, false);
      }
    }
    return d;
  }

  /** Removes a directory tree (best effort; what a grader left behind goes with it). */
  static void removeTree(Path dir) {
    try (var paths = Files.walk(dir)) {
      paths.sorted(java.util.Comparator.reverseOrder()).forEach(p -> {
        try {
          Files.deleteIfExists(p);
        } catch (IOException e) {
          p.toFile().setWritable(true);
        }
      });
    } catch (IOException e) {
      // already gone
    }
  }
}
