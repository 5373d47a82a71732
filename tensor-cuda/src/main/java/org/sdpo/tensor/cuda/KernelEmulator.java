package org.sdpo.tensor.cuda;

import com.sun.jna.Memory;
import com.sun.jna.Native;
import com.sun.jna.NativeLibrary;
import com.sun.jna.Pointer;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The CUDA kernels themselves, compiled as host C++ ({@code tensor-cuda/build-emulator.sh},
 * sources in {@code src/test/emulator}) and run on the CPU: a block's threads as fibers, with
 * their real index arithmetic, shared memory, barriers and warp shuffles. The fake device runs a
 * launch through it instead of the kernel's Java twin when it has one ({@code
 * SDPO_KERNEL_EMULATOR} names the library). Each pointer argument's block is copied into a
 * buffer that ends where an inaccessible page begins, with guard bytes around it: a kernel that
 * writes over them fails the launch with a one-line message, one that reads past the end stops
 * the process.
 *
 * <p>The order in which a block's waiting threads resume is {@link Order#FORWARD} or {@link
 * Order#REVERSE}: a kernel without a data race gives the same bits in both.
 */
public final class KernelEmulator {
  /** The order in which runnable fibers resume after each barrier or shuffle. */
  public enum Order {
    FORWARD,
    REVERSE
  }

  /** The library's functions (kernel_emulator.cpp). */
  public static final class Lib {
    static native int emu_launch(String kernel, int grid, int block, Pointer packed, int order,
        byte[] err, int errLen);

    static native Pointer emu_alloc(long bytes);

    static native int emu_intact(Pointer data);

    static native void emu_free(Pointer data);

    static native String emu_source_digest();

    private Lib() {}
  }

  private static Path registered;
  private final Path library;
  private final Order order;

  private KernelEmulator(Path library, Order order) {
    this.library = library;
    this.order = order;
  }

  /**
   * The emulator in {@code library}, resuming fibers in {@code order}. One library per process:
   * a second, different path fails.
   */
  public static synchronized KernelEmulator load(Path library, Order order) {
    Path abs = library.toAbsolutePath().normalize();
    if (!Files.isRegularFile(abs)) {
      throw new IllegalArgumentException("kernel emulator: no library at " + abs
          + " (build it with tensor-cuda/build-emulator.sh " + abs + ")");
    }
    if (registered == null) {
      try {
        Native.register(Lib.class, NativeLibrary.getInstance(abs.toString()));
      } catch (UnsatisfiedLinkError e) {
        throw new IllegalArgumentException("kernel emulator: cannot load " + abs + ": "
            + e.getMessage());
      }
      registered = abs;
      String built = Lib.emu_source_digest();
      String ours = sourceDigest();
      if (!ours.equals(built)) {
        registered = null;
        throw new IllegalArgumentException("kernel emulator: " + abs + " was built from other "
            + "kernel sources than these (rebuild it with tensor-cuda/build-emulator.sh " + abs
            + ")");
      }
    } else if (!registered.equals(abs)) {
      throw new IllegalArgumentException("kernel emulator: " + registered
          + " is loaded; cannot load " + abs + " as well");
    }
    return new KernelEmulator(abs, order);
  }

  /**
   * The emulator {@code SDPO_KERNEL_EMULATOR} (or {@code -Dsdpo.kernelEmulator}) names, resuming
   * fibers in the order {@code SDPO_KERNEL_EMULATOR_ORDER} names ({@code forward}, the default, or
   * {@code reverse}); null when neither names a library.
   */
  public static KernelEmulator fromEnvironment() {
    String path = System.getProperty("sdpo.kernelEmulator", System.getenv("SDPO_KERNEL_EMULATOR"));
    if (path == null || path.isBlank()) {
      return null;
    }
    String o = System.getProperty("sdpo.kernelEmulatorOrder",
        System.getenv().getOrDefault("SDPO_KERNEL_EMULATOR_ORDER", "forward"));
    Order order;
    try {
      order = Order.valueOf(o.trim().toUpperCase(Locale.ROOT));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("SDPO_KERNEL_EMULATOR_ORDER: '" + o
          + "' is neither forward nor reverse");
    }
    return load(Path.of(path), order);
  }

  /** The SHA-256 (hex) of sdpo_kernels.cu followed by sdpo_kernels_typed.cuh, as bundled. */
  static String sourceDigest() {
    try {
      MessageDigest md = MessageDigest.getInstance("SHA-256");
      md.update(KernelSource.read(KernelSource.MAIN).getBytes(StandardCharsets.UTF_8));
      md.update(KernelSource.read(KernelSource.TYPED).getBytes(StandardCharsets.UTF_8));
      return HexFormat.of().formatHex(md.digest());
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  /**
   * Builds the emulator's library at {@code out} with {@code script} (tensor-cuda's
   * build-emulator.sh); returns null when built, else why it could not be (no C++ compiler, not
   * Linux: the script's message). Fails when the compiler does.
   */
  public static String build(Path script, Path out) {
    try {
      Process p = new ProcessBuilder("bash", script.toString(), out.toString())
          .redirectErrorStream(true).start();
      String log = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      if (!p.waitFor(5, TimeUnit.MINUTES)) {
        p.destroyForcibly();
        throw new IllegalStateException(script + " took over 5 minutes");
      }
      if (p.exitValue() == 3) {
        return log.strip();
      }
      if (p.exitValue() != 0) {
        throw new IllegalStateException(script + " failed:\n" + log);
      }
      return null;
    } catch (IOException e) {
      return "cannot run " + script + ": " + e.getMessage();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }

  public Order order() {
    return order;
  }

  @Override
  public String toString() {
    return "kernel emulator " + library + ", " + order.name().toLowerCase(Locale.ROOT) + " order";
  }

  /**
   * Runs {@code kernel} over {@code grid} blocks of {@code block} threads with these packed
   * parameters, whose pointers are already host addresses (the emulator's own tests).
   */
  public void launchRaw(String kernel, int grid, int block, Memory packed) {
    byte[] err = new byte[1024];
    if (Lib.emu_launch(kernel, grid, block, packed, order.ordinal(), err, err.length) != 0) {
      int n = 0;
      while (n < err.length && err[n] != 0) {
        n++;
      }
      throw new IllegalStateException("kernel emulator: " + new String(err, 0, n,
          StandardCharsets.UTF_8));
    }
  }

  /** A guarded buffer of {@code bytes} (see the class comment); free it with {@link #free}. */
  public static Pointer alloc(long bytes) {
    Pointer p = Lib.emu_alloc(bytes);
    if (p == null) {
      throw new IllegalStateException("kernel emulator: cannot map " + bytes + " bytes");
    }
    return p;
  }

  /** Whether the guard bytes around an {@link #alloc} buffer are as they were. */
  public static boolean intact(Pointer p) {
    return Lib.emu_intact(p) != 0;
  }

  public static void free(Pointer p) {
    Lib.emu_free(p);
  }

  /**
   * One fake-device block a launch's pointers point into, copied to a guarded host buffer; param:
   * the first parameter pointing into it.
   */
  private record Staged(long start, int bytes, ByteBuffer memory, int offset, Pointer host,
      int param) {}

  /** The block {@code address} falls in, staged into a guarded host buffer once per launch. */
  private Staged stage(FakeDevice dev, Map<Long, Staged> staged, long address, int param) {
    long[] span = dev.span(address);
    Staged s = staged.get(span[0]);
    if (s == null) {
      ByteBuffer mem = dev.region(span[0], span[1]);
      Pointer host = alloc(span[1]);
      int at = dev.offsetIn(span[0]);
      byte[] copy = new byte[(int) span[1]];
      mem.get(at, copy);
      host.write(0, copy, 0, copy.length);
      s = new Staged(span[0], (int) span[1], mem, at, host, param);
      staged.put(span[0], s);
    }
    return s;
  }

  /**
   * A kernel over many tensors reads device addresses from its table (TensorTables: up to four
   * per tensor row): each one's block is staged too, and the host copy of the table is given the
   * host addresses.
   */
  private void stageTable(FakeDevice dev, Map<Long, Staged> staged, Pointer table, int tensors) {
    for (int t = 0; t < tensors; t++) {
      for (int k = 0; k < 4; k++) {
        long word = (long) (TensorTables.ROW * t + k) * 8;
        long address = table.getLong(word);
        if (address != 0) {
          Staged s = stage(dev, staged, address, 1);
          table.setPointer(word, s.host.share(address - s.start));
        }
      }
    }
  }

  /**
   * One launch on the fake device: each pointer parameter's block (or allocation) staged into a
   * guarded host buffer (once, however many parameters point into it), the kernel run, the guards
   * checked and the blocks copied back.
   */
  void run(FakeDevice dev, String kernel, ByteBuffer packed, int grid, int block) {
    List<KernelSource.Param> sig = KernelSource.signature(kernel);
    int[] off = KernelArgs.offsets(sig);
    Memory params = new Memory(Math.max(8, packed.remaining()));
    byte[] bytes = new byte[packed.remaining()];
    packed.duplicate().get(bytes);
    params.write(0, bytes, 0, bytes.length);
    Map<Long, Staged> staged = new LinkedHashMap<>();
    Staged table = null; // a kernel over many tensors: its table, whose pointers are rewritten
    try {
      for (int i = 0; i < sig.size(); i++) {
        if (sig.get(i) != KernelSource.Param.POINTER) {
          continue;
        }
        long address = packed.getLong(packed.position() + off[i]);
        if (address == 0) {
          continue; // a null pointer (an absent mask) stays null
        }
        Staged s = stage(dev, staged, address, i);
        params.setPointer(off[i], s.host.share(address - s.start));
        if (i == 1 && kernel.contains("_many")) {
          table = s;
          int tensors = packed.getInt(packed.position() + off[0]);
          stageTable(dev, staged, s.host.share(address - s.start), tensors);
        }
      }
      launchRaw(kernel, grid, block, params);
      for (Staged s : staged.values()) {
        if (!intact(s.host)) {
          throw new IllegalStateException("kernel emulator: " + kernel + " wrote outside the "
              + s.bytes + "-byte block at " + Long.toHexString(s.start) + " that its parameter "
              + KernelSource.parameterNames(kernel).get(s.param) + " points into");
        }
        if (s != table) { // the table's copy holds host addresses now; the kernels only read it
          s.memory.put(s.offset, s.host.getByteArray(0, s.bytes));
        }
      }
    } finally {
      staged.values().forEach(s -> free(s.host));
    }
  }
}
