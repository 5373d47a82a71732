package org.sdpo.tensor.cuda;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * A CUDA device in host memory, for running the CUDA backend's host side without a GPU: device
 * addresses are numbers in a range no host pointer uses, fresh memory holds 0xff bytes (NaN, or
 * -1, as a GPU's holds garbage, so that reading before writing shows), every access a kernel
 * makes is bounds checked against the allocation it falls in (a 256-byte gap between
 * allocations makes an overrun fail instead of landing in a neighbour), kernels run as their Java
 * twins ({@link FakeKernels}) over the same packed argument bytes the real driver would send, the
 * matrix multiply follows cuBLAS's column-major conventions and refuses the leading dimensions
 * cuBLAS would refuse, and graphs record launches and replay them. Copies between host and
 * device inside a capture fail, as they do on a GPU. With a {@link KernelEmulator} (named by
 * {@code SDPO_KERNEL_EMULATOR}) kernels run as their CUDA source compiled for the host instead of
 * their Java twins.
 */
public final class FakeDevice implements CudaDriver {
  private static final long BASE = 0x7a00_0000_0000L;
  private final TreeMap<Long, ByteBuffer> memory = new TreeMap<>();
  private final TreeMap<Long, Long> blocks = new TreeMap<>(); // carved by the pool: start, bytes
  private long next = BASE;
  private long launches;
  private List<Runnable> capture;
  private long captureStart; // launches when the capture began
  private final KernelProfile profile; // null unless profiling: host time of each Java twin
  private final KernelEmulator emulator; // null: kernels run as their Java twins
  private long memoryLimit; // bytes the device has (0: as much as the host gives)
  private long allocated; // bytes of live allocations
  // Pointers region() checked lately, by a hash of the pointer: the bounds its accesses may reach
  // and its allocation (a kernel's twin reads and writes a few tensors element by element, and
  // three TreeMap searches an element cost time that grows with the pool's chunks)
  private static final int REGIONS = 64;
  private final long[] regionBase = new long[REGIONS]; // 0: none
  private final long[] regionFrom = new long[REGIONS];
  private final long[] regionTo = new long[REGIONS];
  private final long[] regionAllocation = new long[REGIONS];
  private final ByteBuffer[] regionBuffer = new ByteBuffer[REGIONS];
  private long lastAllocationStart; // the allocation region() returned last, for offsetIn
  private long lastAllocationEnd;

  /**
   * A fake device; profiled when {@code SDPO_CUDA_PROFILE=1} (see {@link KernelProfile}), its
   * kernels emulated when {@code SDPO_KERNEL_EMULATOR} names the emulator's library.
   */
  public FakeDevice() {
    this(KernelProfile.fromEnvironment(), KernelEmulator.fromEnvironment());
  }

  /** A fake device that adds the host time of each piece of work to {@code profile} (or null). */
  public FakeDevice(KernelProfile profile) {
    this(profile, null);
  }

  /**
   * A fake device whose kernels run through {@code emulator} (or, when null, as their Java
   * twins), profiled into {@code profile} (or not, when null).
   */
  public FakeDevice(KernelProfile profile, KernelEmulator emulator) {
    this.profile = profile;
    this.emulator = emulator;
  }

  /**
   * Gives the device {@code bytes} of memory (0: as much as the host gives): an allocation that
   * would pass it fails as a GPU's does when full, for testing what runs out of memory.
   */
  public synchronized void limitMemory(long bytes) {
    if (bytes < 0) {
      throw new IllegalArgumentException("fake device: memory limit " + bytes + " < 0");
    }
    this.memoryLimit = bytes;
  }

  @Override
  public synchronized long totalMemory() {
    return memoryLimit;
  }

  /** Always: the fake device is where the backend's bookkeeping is tested. */
  @Override
  public boolean checksLaunches() {
    return true;
  }

  @Override
  public String description() {
    return "fake CUDA device in host memory (kernels run as "
        + (emulator == null ? "Java twins" : "CUDA source on the host: " + emulator) + ")";
  }

  @Override
  public synchronized long alloc(long bytes) {
    if (bytes <= 0 || bytes > Integer.MAX_VALUE) {
      throw new IllegalArgumentException("fake device: cannot allocate " + bytes + " bytes");
    }
    if (memoryLimit > 0 && allocated + bytes > memoryLimit) {
      throw new org.sdpo.tensor.DeviceOutOfMemoryException("fake device: " + bytes + " bytes "
          + "asked with " + allocated + " of " + memoryLimit + " allocated");
    }
    allocated += bytes;
    forgetLastRegion();
    long at = next;
    ByteBuffer b = ByteBuffer.allocate((int) bytes).order(ByteOrder.LITTLE_ENDIAN);
    java.util.Arrays.fill(b.array(), (byte) 0xFF); // as garbage on a GPU: NaN, or -1
    memory.put(at, b);
    next += (bytes + 255) / 256 * 256 + 256;
    return at;
  }

  @Override
  public synchronized void free(long address) {
    blocks.subMap(address, true, address + memory.getOrDefault(address,
        ByteBuffer.allocate(0)).capacity(), false).clear();
    ByteBuffer b = memory.remove(address);
    if (b == null) {
      throw new IllegalStateException("fake device: free of " + Long.toHexString(address)
          + ", which is not an allocation");
    }
    allocated -= b.capacity();
    forgetLastRegion();
  }

  @Override
  public synchronized void carved(long address, long bytes) {
    // the pool splits and merges its pieces: blocks carved before inside this one are gone
    blocks.subMap(address, true, address + bytes, false).clear();
    blocks.put(address, bytes);
    forgetLastRegion();
  }

  /** The allocation holding [address, address + bytes), which starts in the same block. */
  ByteBuffer region(long address, long bytes) {
    return region(address, address, bytes);
  }

  /**
   * The allocation holding [address, address + bytes), an access through a pointer to
   * {@code base}: the range must lie in the allocation base points into and, where the pool
   * carved that allocation into blocks, in base's block (so an index past the end of a tensor
   * fails even when the next block holds another tensor).
   */
  synchronized ByteBuffer region(long base, long address, long bytes) {
    int slot = (int) ((base ^ (base >>> 9) ^ (base >>> 21)) & (REGIONS - 1));
    if (regionBase[slot] == base && address >= regionFrom[slot]
        && address + bytes <= regionTo[slot]) {
      lastAllocationStart = regionAllocation[slot];
      lastAllocationEnd = lastAllocationStart + regionBuffer[slot].capacity();
      return regionBuffer[slot];
    }
    Map.Entry<Long, ByteBuffer> e = memory.floorEntry(base);
    if (e == null || address < e.getKey() || address + bytes > e.getKey() + e.getValue().capacity()) {
      throw new IllegalStateException("fake device: access to [" + Long.toHexString(address)
          + ", +" + bytes + ") outside every allocation");
    }
    long[] s = span(base);
    if (address < s[0] || address + bytes > s[0] + s[1]) {
      throw new IllegalStateException("fake device: access to [" + Long.toHexString(address)
          + ", +" + bytes + ") through a pointer into block [" + Long.toHexString(s[0])
          + ", +" + s[1] + ") runs past the end of its block");
    }
    regionBase[slot] = base;
    regionFrom[slot] = Math.max(s[0], e.getKey());
    regionTo[slot] = Math.min(s[0] + s[1], e.getKey() + e.getValue().capacity());
    regionAllocation[slot] = e.getKey();
    regionBuffer[slot] = e.getValue();
    lastAllocationStart = e.getKey();
    lastAllocationEnd = e.getKey() + e.getValue().capacity();
    return e.getValue();
  }

  /** Forgets the pointers' blocks: memory was allocated, freed or carved anew. */
  private void forgetLastRegion() {
    java.util.Arrays.fill(regionBase, 0);
    java.util.Arrays.fill(regionBuffer, null);
    lastAllocationEnd = 0;
  }

  /**
   * {start, bytes} of what a pointer to {@code address} may reach: the block the pool carved
   * around it, else its allocation.
   */
  synchronized long[] span(long address) {
    Map.Entry<Long, ByteBuffer> e = memory.floorEntry(address);
    if (e == null || address >= e.getKey() + e.getValue().capacity()) {
      throw new IllegalStateException("fake device: pointer " + Long.toHexString(address)
          + " is outside every allocation");
    }
    Map.Entry<Long, Long> b = blocks.floorEntry(address);
    if (b != null && b.getKey() >= e.getKey() && address < b.getKey() + b.getValue()) {
      return new long[] {b.getKey(), b.getValue()};
    }
    return new long[] {e.getKey(), e.getValue().capacity()};
  }

  synchronized int offsetIn(long address) {
    if (address >= lastAllocationStart && address < lastAllocationEnd) {
      return (int) (address - lastAllocationStart); // in the allocation region() just returned
    }
    return (int) (address - memory.floorKey(address));
  }

  private void noCapture(String what) {
    if (capture != null) {
      throw new IllegalStateException("fake device: " + what + " during graph capture");
    }
  }

  @Override
  public void toDevice(long dst, ByteBuffer src) {
    noCapture("a host-to-device copy");
    ByteBuffer r = region(dst, src.remaining());
    r.put(offsetIn(dst), src, src.position(), src.remaining());
  }

  /** Bytes copied to the host so far (what a test of "reads nothing back" counts). */
  public long bytesToHost() {
    return bytesToHost;
  }

  private long bytesToHost;

  @Override
  public void toHost(ByteBuffer dst, long src) {
    noCapture("a device-to-host copy");
    bytesToHost += dst.remaining();
    ByteBuffer r = region(src, dst.remaining());
    dst.put(dst.position(), r, offsetIn(src), dst.remaining());
  }

  @Override
  public void copy(long dst, long src, long bytes) {
    run("device-to-device copy", () -> {
      ByteBuffer s = region(src, bytes);
      ByteBuffer d = region(dst, bytes);
      byte[] tmp = new byte[(int) bytes];
      s.get(offsetIn(src), tmp);
      d.put(offsetIn(dst), tmp);
    });
  }

  @Override
  public void zero(long dst, long bytes) {
    run("memset", () -> {
      ByteBuffer d = region(dst, bytes);
      int o = offsetIn(dst);
      for (int i = 0; i < bytes; i++) {
        d.put(o + i, (byte) 0);
      }
    });
  }

  @Override
  public void launch(KernelArgs args, int grid, int block) {
    if (grid < 1 || grid > Integer.MAX_VALUE || block < 1 || block > 1024) {
      throw new IllegalStateException("fake device: " + args.kernel() + " launched with grid "
          + grid + ", block " + block);
    }
    ByteBuffer packed = args.packed();
    String kernel = args.kernel();
    launches++; // counted when issued, as the driver counts them: a replay is one launch
    run(profile == null ? kernel : profile.launchName(kernel, grid),
        emulator == null ? () -> FakeKernels.run(this, kernel, packed, grid, block)
            : () -> emulator.run(this, kernel, packed, grid, block));
  }

  @Override
  public void gemm(GemmType type, boolean transA, boolean transB, int m, int n, int k,
      double alpha, long a, int lda, long strideA, long b, int ldb, long strideB, double beta,
      long c, int ldc, long strideC, int batch) {
    checkGemm("cuBLAS", type, transA, transB, m, n, k, lda, ldb, ldc, batch);
    int eb = type == GemmType.F64 ? 8 : 4;
    int ab = type == GemmType.BF16 ? 2 : eb; // bytes of an A or B element
    launches++;
    String name = profile == null ? null
        : KernelProfile.gemmName(type, transA, transB, m, n, k, batch);
    run(name, () -> {
      for (int p = 0; p < batch; p++) {
        long abase = a + p * strideA * ab;
        long bbase = b + p * strideB * ab;
        long cb = c + p * strideC * eb;
        for (int j = 0; j < n; j++) {
          for (int i = 0; i < m; i++) {
            double acc = dot(abase, lda, transA, bbase, ldb, transB, ab, i, j, k);
            long ci = i + (long) j * ldc;
            double prior = beta == 0 ? 0 : beta * load(cb, ci, eb);
            store(cb, ci, eb, alpha * acc + prior);
          }
        }
      }
    });
  }

  /** Whether {@link #gemmBias} runs; tests turn it off to see the backend's own bias add. */
  private boolean biasEpilogue = true;

  /** Makes {@link #gemmBias} answer false from now on, as a device without such a kernel would. */
  public void refuseBiasEpilogue() {
    biasEpilogue = false;
  }

  /**
   * cuBLASLt's bias epilogue: the float32 product plus the bias, rounded once to float32 (the
   * product is a float32 accumulator on the device, the sum one float32 addition).
   */
  @Override
  public boolean gemmBias(GemmType type, boolean transA, boolean transB, int m, int n, int k,
      long a, int lda, long b, int ldb, long bias, long c, int ldc) {
    if (!biasEpilogue || type == GemmType.F64) {
      return false;
    }
    checkGemm("cuBLASLt", type, transA, transB, m, n, k, lda, ldb, ldc, 1);
    int ab = type == GemmType.BF16 ? 2 : 4;
    launches++;
    String name = profile == null ? null
        : KernelProfile.gemmBiasName(type, transA, transB, m, n, k);
    run(name, () -> {
      for (int j = 0; j < n; j++) {
        for (int i = 0; i < m; i++) {
          float product = (float) dot(a, lda, transA, b, ldb, transB, ab, i, j, k);
          store(c, i + (long) j * ldc, 4, (float) (product + (float) load(bias, i, 4)));
        }
      }
    });
    return true;
  }

  /** Refuses, as cuBLAS would, leading dimensions shorter than the matrices they lay out. */
  private static void checkGemm(String library, GemmType type, boolean transA, boolean transB,
      int m, int n, int k, int lda, int ldb, int ldc, int batch) {
    // cuBLAS: lda >= rows of A as stored, ldb likewise, ldc >= m
    int rowsA = transA ? k : m;
    int rowsB = transB ? n : k;
    if (m < 0 || n < 0 || k < 0 || lda < Math.max(1, rowsA) || ldb < Math.max(1, rowsB)
        || ldc < Math.max(1, m) || batch < 1) {
      throw new IllegalStateException("fake " + library + ": CUBLAS_STATUS_INVALID_VALUE (m " + m
          + " n " + n + " k " + k + " lda " + lda + " ldb " + ldb + " ldc " + ldc + " trans "
          + transA + "/" + transB + ", " + type + ")");
    }
  }

  /** Element (i, j) of op(A) op(B), summed in double over the k products. */
  private double dot(long a, int lda, boolean transA, long b, int ldb, boolean transB, int ab,
      int i, int j, int k) {
    double acc = 0;
    for (int l = 0; l < k; l++) {
      long ai = transA ? l + (long) i * lda : i + (long) l * lda;
      long bi = transB ? j + (long) l * ldb : l + (long) j * ldb;
      acc += load(a, ai, ab) * load(b, bi, ab);
    }
    return acc;
  }

  /** Element {@code index} of a float (eb 4), double (8) or bfloat16 (2) array. */
  double load(long base, long index, int eb) {
    long addr = base + index * eb;
    ByteBuffer r = region(base, addr, eb);
    int o = offsetIn(addr);
    return eb == 4 ? r.getFloat(o) : eb == 8 ? r.getDouble(o) : FakeKernels.fromBf16(r.getShort(o));
  }

  void store(long base, long index, int eb, double v) {
    long addr = base + index * eb;
    ByteBuffer r = region(base, addr, eb);
    int o = offsetIn(addr);
    if (eb == 4) {
      r.putFloat(o, (float) v);
    } else {
      r.putDouble(o, v);
    }
  }

  /** Runs or records work; name is its profile row (null when not profiling). */
  private void run(String name, Runnable work) {
    if (capture != null) {
      capture.add(work);
    } else if (profile != null) {
      long t0 = System.nanoTime();
      work.run();
      profile.add(name, (System.nanoTime() - t0) / 1e6);
    } else {
      work.run();
    }
  }

  @Override
  public void synchronize() {}

  @Override
  public void beginCapture() {
    noCapture("beginCapture");
    capture = new ArrayList<>();
    captureStart = launches;
  }

  @Override
  public Graph endCapture() {
    if (capture == null) {
      throw new IllegalStateException("fake device: endCapture without beginCapture");
    }
    FakeGraph g = new FakeGraph(List.copyOf(capture), (int) (launches - captureStart));
    capture = null;
    return g;
  }

  /** A recorded list of operations. */
  private static final class FakeGraph implements Graph {
    final List<Runnable> work; // launches, multiplies, copies and fills, in order
    final int launches;
    boolean destroyed;

    FakeGraph(List<Runnable> work, int launches) {
      this.work = work;
      this.launches = launches;
    }

    @Override
    public int launches() {
      return launches;
    }
  }

  @Override
  public void replay(Graph g) {
    noCapture("replay");
    FakeGraph f = fake(g);
    if (f.destroyed) {
      throw new IllegalStateException("fake device: replay of a destroyed graph");
    }
    launches++;
    long t0 = System.nanoTime();
    f.work.forEach(Runnable::run);
    if (profile != null) {
      profile.add("graph replay (" + f.launches + " launches)", (System.nanoTime() - t0) / 1e6);
    }
  }

  @Override
  public void destroy(Graph g) {
    FakeGraph f = fake(g);
    if (f.destroyed) {
      throw new IllegalStateException("fake device: a graph destroyed twice");
    }
    f.destroyed = true;
  }

  private static FakeGraph fake(Graph g) {
    if (!(g instanceof FakeGraph f)) {
      throw new IllegalStateException("fake device: not a fake graph: " + g);
    }
    return f;
  }

  @Override
  public long launches() {
    return launches;
  }

  /** Bytes allocated now (tests check that a steady step allocates nothing new). */
  public synchronized long allocatedBytes() {
    return memory.values().stream().mapToLong(ByteBuffer::capacity).sum();
  }

  @Override
  public synchronized void close() {
    memory.clear();
    forgetLastRegion();
  }
}
