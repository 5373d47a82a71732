package org.sdpo.tensor.cuda;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.Locale;
import org.sdpo.tensor.Backend;
import org.sdpo.tensor.Buf;
import org.sdpo.tensor.CapturedStep;
import org.sdpo.tensor.DType;
import org.sdpo.tensor.DeviceUnavailableException;
import org.sdpo.tensor.HostKernels;
import org.sdpo.tensor.Indices;
import org.sdpo.tensor.MemoryStats;
import org.sdpo.tensor.Rng;
import org.sdpo.tensor.Shape;
import org.sdpo.tensor.Storage;
import org.sdpo.tensor.Tensor;
import org.sdpo.tensor.Workspace;

/**
 * The tensor backend on an NVIDIA GPU: tensors in device memory ({@link DevicePool}), every
 * {@link Backend} method a kernel of {@code sdpo_kernels.cu} or a cuBLAS matrix multiply, all on
 * one stream. Elementwise kernels read strided and broadcast views in place ({@link Dims}); the
 * fused kernels take contiguous tensors, as the interface says. The dropout mask is drawn on the
 * host by its contract (one host draw per element, so a seed gives the same mask on every
 * backend); sampling draws on the device and copies back a token and a log-probability per row
 * ({@code sample_rows}, without sorting the vocabulary).
 *
 * <p>Precision ({@link Precision}), from {@code -Dsdpo.cuda.precision} or
 * {@code SDPO_CUDA_PRECISION}: {@code fp32} (the default; TF32 off, as gradient checks need),
 * {@code tf32} or {@code bf16} (bfloat16 matrix operands, float32 everything else); float64
 * tensors always multiply in float64.
 */
public final class CudaBackend implements Backend {
  static final int THREADS = 256;
  private static final int MAX_GRID = 1 << 16;

  /** How float32 matrices are multiplied. */
  public enum Precision {
    /** float32 operands and accumulation, TF32 off. */
    FP32,
    /** TF32 tensor cores allowed (operands rounded to 10-bit mantissas inside cuBLAS). */
    TF32,
    /**
     * Mixed precision: each float32 matrix multiply rounds its operands to bfloat16 and
     * accumulates and stores in float32 (as PyTorch's autocast does); parameters, optimizer
     * state, activations and every other kernel stay float32, so the weights AdamW updates are
     * the float32 masters.
     */
    BF16
  }

  private final CudaDriver dev;
  private final DevicePool pool;
  private final Precision precision;
  /** The step being recorded, or null. */
  private Capture capture;
  private final boolean graphs;
  /** The bf16 mode's copies of matrix operands (empty and off in the other modes). */
  private final CastCache casts;
  /** Whether each copy the cast cache hands out is compared with a fresh rounding first. */
  private final boolean checkCasts;
  /** Whether {@link #linear} asks the device for products with the bias in their epilogue. */
  private final boolean biasEpilogue;
  /** The tables of the kernels over many tensors (a model's AdamW step, its clipping). */
  private final TensorTables tables;
  /** Whether {@link #sampleRows} draws on the device (sample_rows) or copies the logits back. */
  private final boolean deviceSampling;
  /** Which product rows the bf16 mode pads to 16 bytes ({@link #padRowsWanted}). */
  private final PadRows padRows;
  /** The most scratch sample_rows keeps probabilities in (a block's row: V doubles). */
  static final long SAMPLE_SCRATCH_BYTES = 64L << 20;
  /** {@link #SAMPLE_SCRATCH_BYTES}; tests lower it so that a block takes several rows. */
  long sampleScratchBytes = SAMPLE_SCRATCH_BYTES;

  /** Whether recording is wanted: -Dsdpo.cuda.graphs / SDPO_CUDA_GRAPHS, true unless false or 0. */
  public static boolean graphsWanted() {
    return onUnlessOff("sdpo.cuda.graphs", "SDPO_CUDA_GRAPHS");
  }

  /** A switch that is on unless its system property or environment variable is false or 0. */
  private static boolean onUnlessOff(String property, String variable) {
    String v = System.getProperty(property, System.getenv(variable));
    return v == null || !(v.equalsIgnoreCase("false") || v.equals("0"));
  }

  /** A backend on {@code dev}; callers may record steps unless {@link #graphsWanted} says no. */
  public CudaBackend(CudaDriver dev, Precision precision) {
    this(dev, precision, graphsWanted());
  }

  /** A backend on {@code dev} on which callers may record steps only if {@code graphs}. */
  public CudaBackend(CudaDriver dev, Precision precision, boolean graphs) {
    this(dev, precision, graphs,
        precision == Precision.BF16 ? CastCache.configuredBudgetBytes(dev.totalMemory()) : 0);
  }

  /**
   * A backend whose bf16 mode keeps up to {@code castCacheBytes} of bfloat16 copies of matrix
   * operands ({@link CastCache}; 0: none).
   */
  public CudaBackend(CudaDriver dev, Precision precision, boolean graphs, long castCacheBytes) {
    this(dev, precision, graphs, castCacheBytes, biasEpilogueWanted());
  }

  /**
   * As above, adding biases in the products' epilogue ({@link #linear}) only if
   * {@code biasEpilogue}.
   */
  public CudaBackend(CudaDriver dev, Precision precision, boolean graphs, long castCacheBytes,
      boolean biasEpilogue) {
    this.biasEpilogue = biasEpilogue;
    this.deviceSampling = deviceSamplingWanted();
    this.padRows = padRowsWanted();
    this.dev = dev;
    this.pool = new DevicePool(dev);
    this.tables = new TensorTables(dev, pool);
    this.precision = precision;
    this.graphs = graphs;
    this.casts = new CastCache(pool, precision == Precision.BF16 ? castCacheBytes : 0);
    this.checkCasts = dev.checksLaunches();
    if (casts.enabled()) {
      pool.onRelease(casts::forgetBlock);
    }
  }

  /** The precision asked for by {@code -Dsdpo.cuda.precision} or {@code SDPO_CUDA_PRECISION}. */
  public static Precision configuredPrecision() {
    String p = System.getProperty("sdpo.cuda.precision", System.getenv("SDPO_CUDA_PRECISION"));
    if (p == null || p.isBlank() || p.equalsIgnoreCase("fp32")) {
      return Precision.FP32;
    }
    if (p.equalsIgnoreCase("tf32")) {
      return Precision.TF32;
    }
    if (p.equalsIgnoreCase("bf16")) {
      return Precision.BF16;
    }
    throw new DeviceUnavailableException("--device cuda: precision '" + p + "' is not one of fp32, "
        + "tf32, bf16");
  }

  /** The device this backend runs on. */
  public CudaDriver driver() {
    return dev;
  }

  @Override
  public long kernelLaunches() {
    return dev.launches();
  }

  /** Allocations asked of the driver so far (chunks of the memory pool). */
  public int driverAllocations() {
    return pool.chunks();
  }

  /** Device bytes held from the driver. */
  public long reservedBytes() {
    return pool.reserved();
  }

  /** Device bytes held by live tensors, scratch and recorded steps. */
  public long inUseBytes() {
    return pool.inUse();
  }

  @Override
  public org.sdpo.tensor.DeviceMemory deviceMemory() {
    return new org.sdpo.tensor.DeviceMemory(pool.inUse(), pool.reserved(), pool.peakInUse(),
        pool.peakReserved(), dev.totalMemory());
  }

  @Override
  public void resetDeviceMemoryPeaks() {
    pool.resetPeaks();
  }

  @Override
  public String description() {
    String cache = casts.enabled()
        ? " (operand casts cached, up to " + (casts.budgetBytes() >> 20) + " MiB)" : "";
    String bias = biasEpilogue ? "" : " (biases added after the products)";
    String sampling = deviceSampling ? "" : " (sampling on the host)";
    String pad = padRows == PadRows.ALL || precision != Precision.BF16 ? ""
        : padRows == PadRows.OPERANDS ? " (product outputs not padded)"
        : " (product rows not padded)";
    return "CUDA (" + dev.description() + "), " + precision.name().toLowerCase(Locale.ROOT) + cache
        + bias + sampling + pad;
  }

  /**
   * What the bf16 mode's operand casts did since the backend was made: copies made (one cast
   * kernel each) and copies reused instead of casting again, in tensors and elements, and the
   * device bytes the cache holds now.
   */
  public record CastStats(long made, long reused, long elementsMade, long elementsReused,
      long bytesHeld) {}

  /** The bf16 operand casts so far ({@link CastStats}); all zero in the other modes. */
  public CastStats castStats() {
    return casts.stats();
  }

  // ------------------------------------------------------------------ recorded steps

  /** An int array a recorded step reads, and the block it is copied into before each replay. */
  private record Input(int[] source, DevicePool.Block block) {}

  /** What a step being recorded collects. */
  private static final class Capture {
    final java.util.Set<CudaStorage> retained =
        java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());
    final java.util.List<Input> inputs = new java.util.ArrayList<>();
  }

  /** True unless turned off ({@code -Dsdpo.cuda.graphs=false}, {@code SDPO_CUDA_GRAPHS=0}). */
  @Override
  public boolean canCaptureSteps() {
    return graphs;
  }

  /**
   * Records {@code step} as a CUDA graph. Every tensor whose memory a kernel of the step touches
   * is kept reachable, and every block given back while recording is kept off the free lists,
   * until the step is closed: a replay writes them all again, so nothing else may be given them.
   */
  @Override
  public CapturedStep captureStep(Runnable step) {
    if (capture != null) {
      throw new IllegalStateException("captureStep: a step is already being recorded");
    }
    Capture c = new Capture();
    casts.clear(); // a recording may reuse only the copies it makes itself
    capture = c;
    pool.hold();
    Throwable failure = null; // the step's own error is the one to report
    CudaDriver.Graph graph = null;
    try {
      dev.beginCapture();
      try {
        Workspace.persistent(() -> {
          step.run();
          return null;
        });
      } catch (RuntimeException | Error e) {
        failure = e;
      } finally {
        casts.clear(); // the copies made while recording are the recording's (the pool holds them)
      }
      graph = dev.endCapture(); // also when the step failed: the stream must leave capture
    } catch (RuntimeException | Error e) {
      if (failure == null) {
        failure = e;
      } else {
        failure.addSuppressed(e); // a capture the step's error invalidated
      }
    }
    capture = null;
    java.util.List<long[]> held = pool.endHold();
    if (failure != null) { // nothing was recorded for later
      if (graph != null) {
        dev.destroy(graph);
      }
      pool.release(held);
      if (failure instanceof RuntimeException r) {
        throw r;
      }
      throw (Error) failure;
    }
    return new Recorded(graph, c, held);
  }

  /** A recorded step: its graph, the memory it owns and the int arrays it copies in. */
  private final class Recorded implements CapturedStep {
    private CudaDriver.Graph graph;
    private Capture owned;
    private final java.util.List<long[]> held;

    Recorded(CudaDriver.Graph graph, Capture owned, java.util.List<long[]> held) {
      this.graph = graph;
      this.owned = owned;
      this.held = held;
    }

    @Override
    public void replay() {
      if (graph == null) {
        throw new IllegalStateException("replay of a closed recorded step");
      }
      casts.clear(); // a replay writes memory behind the cache's back
      for (Input in : owned.inputs) {
        uploadInts(in.block().address, in.source());
      }
      dev.replay(graph);
    }

    @Override
    public int launches() {
      return graph == null ? 0 : graph.launches();
    }

    @Override
    public void close() {
      if (graph != null) {
        dev.destroy(graph);
        graph = null;
        owned = null;
        pool.release(held);
      }
    }
  }

  // ------------------------------------------------------------------ storage

  private CudaStorage st(Tensor t) {
    Storage s = t.storage();
    if (!(s instanceof CudaStorage c)) {
      throw new IllegalArgumentException("a tensor of another backend reached the CUDA backend");
    }
    if (capture != null) {
      capture.retained.add(c); // its memory is the recorded step's as long as the step lives
    }
    return c;
  }

  /**
   * The device address of t's element 0, for a kernel, copy or multiply that may write it: the
   * block's version moves on, so the cast cache's copies of it are stale ({@link CastCache}).
   */
  private long addr(Tensor t) {
    CudaStorage s = st(t);
    s.block.version++;
    return s.address();
  }

  static int[] rowMajor(int[] shape) {
    return Shape.rowMajorStrides(shape);
  }

  static int numel(int[] shape) {
    return (int) Shape.numel(shape);
  }

  @Override
  public Storage allocate(DType dtype, int[] shape) {
    long bytes = (long) numel(shape) * dtype.bytes();
    MemoryStats.recordAllocation(dtype, shape);
    return new CudaStorage(pool.take(bytes), 0, rowMajor(shape), dtype);
  }

  private Tensor empty(DType dtype, int... shape) {
    return Tensor.ofStorage(allocate(dtype, shape), dtype, shape);
  }

  @Override
  public Storage fromDoubles(double[] data, DType dtype, int[] shape) {
    CudaStorage s = (CudaStorage) allocate(dtype, shape);
    upload(s.address(), data, 0, data.length, dtype);
    return s;
  }

  @Override
  public Storage fromFloats(float[] data, DType dtype, int[] shape) {
    CudaStorage s = (CudaStorage) allocate(dtype, shape);
    ByteBuffer b = host(data.length, dtype);
    for (float v : data) {
      if (dtype == DType.FLOAT32) {
        b.putFloat(v);
      } else {
        b.putDouble(v);
      }
    }
    if (data.length > 0) {
      dev.toDevice(s.address(), b.flip());
    }
    return s;
  }

  private static ByteBuffer host(int n, DType dtype) {
    return ByteBuffer.allocateDirect(n * dtype.bytes()).order(ByteOrder.LITTLE_ENDIAN);
  }

  private void upload(long address, double[] src, int from, int count, DType dtype) {
    if (count == 0) {
      return;
    }
    ByteBuffer b = host(count, dtype);
    for (int i = from; i < from + count; i++) {
      if (dtype == DType.FLOAT32) {
        b.putFloat((float) src[i]);
      } else {
        b.putDouble(src[i]);
      }
    }
    dev.toDevice(address, b.flip());
  }

  private ByteBuffer download(long address, int count, DType dtype) {
    ByteBuffer b = host(count, dtype);
    if (count > 0) {
      dev.toHost(b, address);
    }
    return b;
  }

  /** A contiguous tensor with t's values: t itself, or a copy. */
  private Tensor dense(Tensor t) {
    if (isContiguous(t)) {
      return t;
    }
    Tensor c = empty(t.dtype(), t.shape());
    assign(t, c);
    return c;
  }

  @Override
  public double[] toDoubles(Tensor t) {
    Tensor c = dense(t);
    int n = numel(t.shape());
    ByteBuffer b = download(addr(c), n, t.dtype());
    double[] d = new double[n];
    for (int i = 0; i < n; i++) {
      d[i] = t.dtype() == DType.FLOAT32 ? b.getFloat(4 * i) : b.getDouble(8 * i);
    }
    return d;
  }

  @Override
  public float[] toFloats(Tensor t) {
    double[] d = toDoubles(t);
    float[] f = new float[d.length];
    for (int i = 0; i < d.length; i++) {
      f[i] = (float) d[i];
    }
    return f;
  }

  private long physical(Tensor t, long flat) {
    int[] s = t.shape();
    int[] str = st(t).strides;
    long off = 0;
    for (int i = s.length - 1; i >= 0; i--) {
      off += (flat % s[i]) * str[i];
      flat /= s[i];
    }
    return off;
  }

  @Override
  public double get(Tensor t, long flatIndex) {
    long a = addr(t) + physical(t, flatIndex) * t.dtype().bytes();
    ByteBuffer b = download(a, 1, t.dtype());
    return t.dtype() == DType.FLOAT32 ? b.getFloat(0) : b.getDouble(0);
  }

  @Override
  public void set(Tensor t, long flatIndex, double value) {
    long a = addr(t) + physical(t, flatIndex) * t.dtype().bytes();
    upload(a, new double[] {value}, 0, 1, t.dtype());
  }

  @Override
  public void write(Tensor t, int start, double[] src, int count) {
    upload(addr(t) + (long) start * t.dtype().bytes(), src, 0, count, t.dtype());
  }

  @Override
  public void read(Tensor t, int start, double[] dst, int count) {
    ByteBuffer b = download(addr(t) + (long) start * t.dtype().bytes(), count, t.dtype());
    for (int i = 0; i < count; i++) {
      dst[i] = t.dtype() == DType.FLOAT32 ? b.getFloat(4 * i) : b.getDouble(8 * i);
    }
  }

  @Override
  public Buf buffer(Tensor t) {
    throw new UnsupportedOperationException("the CUDA backend's tensors live in device memory; "
        + "there is no host buffer to hand out (use Tensor.read/write or toDoubleArray)");
  }

  @Override
  public boolean isContiguous(Tensor t) {
    int[] s = t.shape();
    int[] str = st(t).strides;
    int expect = 1;
    for (int i = s.length - 1; i >= 0; i--) {
      if (s[i] != 1 && str[i] != expect) {
        return false;
      }
      expect *= s[i];
    }
    return true;
  }

  @Override
  public Storage reshape(Tensor t, int[] shape) {
    CudaStorage s = st(t);
    return new CudaStorage(s.block, s.offset, rowMajor(shape), s.dtype);
  }

  @Override
  public Storage permute(Tensor t, int[] axes) {
    CudaStorage s = st(t);
    int[] str = new int[axes.length];
    for (int i = 0; i < axes.length; i++) {
      str[i] = s.strides[axes[i]];
    }
    return new CudaStorage(s.block, s.offset, str, s.dtype);
  }

  @Override
  public Storage slice(Tensor t, int axis, int start, int end) {
    CudaStorage s = st(t);
    return new CudaStorage(s.block, s.offset + (long) start * s.strides[axis], s.strides.clone(),
        s.dtype);
  }

  // ------------------------------------------------------------------ launches

  private static String k(String name, DType dt) {
    return name + (dt == DType.FLOAT32 ? "_f32" : "_f64");
  }

  private static KernelArgs args(String kernel) {
    return new KernelArgs(kernel);
  }

  private static int grid(long n) {
    return (int) Math.max(1, Math.min((n + THREADS - 1) / THREADS, MAX_GRID));
  }

  /** Elements a thread takes per pass in the kernels of ILP_KERNELS (ILP in the source). */
  static final int ILP = 4;

  /**
   * The kernels written with ILP_LOOP (or copy_impl), which take ILP elements per thread per pass
   * with their loads first: their blocks cover THREADS * ILP elements (KernelSourceTest checks
   * this set against the source).
   */
  static final java.util.Set<String> ILP_KERNELS = java.util.Set.of("map", "binary", "axpy",
      "gelu", "gelu_backward", "adamw", "clip_scale", "cross_entropy_backward", "gather_rows",
      "to_bf16_f32", "copy_f32_f64", "copy_f64_f32");

  private void launch(KernelArgs a, long work) {
    boolean ilp = ILP_KERNELS.contains(KernelSource.sourceName(a.kernel()));
    dev.launch(a, grid(ilp ? (work + ILP - 1) / ILP : work), THREADS);
  }

  /** Rows of up to this many elements go one to a warp (WARP_ROW in the kernels). */
  private static final int WARP_ROW = 1024;

  /**
   * The blocks of a kernel that gives rows of up to WARP_ROW elements to a warp, longer ones to
   * a block (the attention softmax).
   */
  private static int rowBlocks(int rows, int length) {
    int perBlock = length <= WARP_ROW ? THREADS / 32 : 1;
    return (int) Math.max(1, Math.min((rows + perBlock - 1L) / perBlock, MAX_GRID));
  }

  /** One block per row. */
  private void launchRows(KernelArgs a, int rows) {
    dev.launch(a, Math.max(1, Math.min(rows, MAX_GRID)), THREADS);
  }

  /** The strides of t read as an operand of the index space {@code shape} (broadcast: 0). */
  private int[] broadcastStrides(Tensor t, int[] shape) {
    int[] ts = t.shape();
    int[] str = st(t).strides;
    int[] out = new int[shape.length];
    int lead = shape.length - ts.length;
    for (int i = 0; i < ts.length; i++) {
      out[lead + i] = ts[i] == 1 ? 0 : str[i];
    }
    return out;
  }

  /** The index space of {@code shape} over the operands, with as few axes as they allow. */
  private Dims dims(int[] shape, Tensor... operands) {
    int[][] s = new int[operands.length][];
    for (int i = 0; i < operands.length; i++) {
      s[i] = broadcastStrides(operands[i], shape);
    }
    return Dims.collapsed(shape, s);
  }

  // ------------------------------------------------------------------ elementwise

  @Override
  public void assign(Tensor src, Tensor out) {
    int[] shape = out.shape();
    if (numel(shape) == 0) {
      return;
    }
    Dims d = dims(shape, out, src);
    if (src.dtype() == out.dtype()) {
      launch(args(k("map", out.dtype())).i32(32).f64(0).dims(d).ptr(addr(src)).ptr(addr(out)),
          d.numel());
    } else {
      String kernel = src.dtype() == DType.FLOAT32 ? "copy_f32_f64" : "copy_f64_f32";
      launch(args(kernel).dims(d).ptr(addr(src)).ptr(addr(out)), d.numel());
    }
  }

  @Override
  public void assignAt(Tensor src, Tensor out, int axis, Indices start) {
    int n = src.dim(axis);
    if (src.numel() == 0) {
      return;
    }
    int[] shape = out.shape().clone();
    shape[axis] = n;
    // the slice at 0 (its strides), which the kernel shifts to the start it reads
    Tensor at0 = Tensor.ofStorage(slice(out, axis, 0, n), out.dtype(), shape);
    Dims d = dims(src.shape(), at0, src);
    int step = st(out).strides[axis];
    withIndices(start, s -> launch(args(k("copy_at", out.dtype())).dims(d).ptr(s).i32(step)
        .i32(out.dim(axis) - n).ptr(addr(src)).ptr(addr(at0)), d.numel()));
  }

  @Override
  public void fill(Tensor out, double value) {
    if (out.numel() == 0) {
      return;
    }
    Dims d = dims(out.shape(), out);
    launch(args(k("fill", out.dtype())).dims(d).f64(value).ptr(addr(out)), d.numel());
  }

  /** All the tensors in one launch ({@code fill_many}) where their table can be had. */
  @Override
  public void fill(java.util.List<Tensor> xs, double value) {
    TensorTables.Table table = table(null, xs);
    if (table == null) {
      Backend.super.fill(xs, value);
      return;
    }
    dev.launch(args(k("fill_many", xs.get(0).dtype())).i32(table.tensors())
        .ptr(table.address()).f64(value), table.blocks(), THREADS);
  }

  /** t in dtype {@code dt}: t itself, or a converted copy. */
  private Tensor as(Tensor t, DType dt) {
    if (t.dtype() == dt) {
      return t;
    }
    Tensor c = empty(dt, t.shape());
    assign(t, c);
    return c;
  }

  @Override
  public void binary(BinaryOp op, Tensor a, Tensor b, Tensor out) {
    if (out.numel() == 0) {
      return;
    }
    DType dt = out.dtype();
    Tensor x = as(a, dt);
    Tensor y = as(b, dt);
    Dims d = dims(out.shape(), out, x, y);
    launch(args(k("binary", dt)).i32(op.ordinal()).dims(d).ptr(addr(x)).ptr(addr(y))
        .ptr(addr(out)), d.numel());
  }

  private void map(int op, double s, Tensor a, Tensor out) {
    if (out.numel() == 0) {
      return;
    }
    Tensor x = as(a, out.dtype());
    Dims d = dims(out.shape(), out, x);
    launch(args(k("map", out.dtype())).i32(op).f64(s).dims(d).ptr(addr(x)).ptr(addr(out)),
        d.numel());
  }

  @Override
  public void unary(UnaryOp op, Tensor a, Tensor out) {
    map(op.ordinal(), 0, a, out);
  }

  @Override
  public void scalar(ScalarOp op, Tensor a, double s, Tensor out) {
    map(16 + op.ordinal(), s, a, out);
  }

  @Override
  public void axpy(double alpha, Tensor x, Tensor y) {
    if (y.numel() == 0) {
      return;
    }
    Tensor xs = as(x, y.dtype());
    Dims d = dims(y.shape(), y, xs);
    launch(args(k("axpy", y.dtype())).dims(d).f64(alpha).ptr(addr(xs)).ptr(addr(y)), d.numel());
  }

  @Override
  public void where(Tensor cond, Tensor a, Tensor b, Tensor out) {
    if (out.numel() == 0) {
      return;
    }
    DType dt = out.dtype();
    Tensor c = as(cond, dt);
    Tensor x = as(a, dt);
    Tensor y = as(b, dt);
    Dims d = dims(out.shape(), out, c, x, y);
    launch(args(k("where", dt)).dims(d).ptr(addr(c)).ptr(addr(x)).ptr(addr(y)).ptr(addr(out)),
        d.numel());
  }

  @Override
  public void concat(int axis, Tensor[] parts, Tensor out) {
    int at = 0;
    for (Tensor p : parts) {
      int len = p.shape()[axis];
      if (len > 0) {
        Tensor view = Tensor.ofStorage(slice(out, axis, at, at + len), out.dtype(), p.shape());
        assign(p, view);
      }
      at += len;
    }
  }

  // ------------------------------------------------------------------ reductions

  @Override
  public void reduce(ReduceOp op, Tensor a, int[] axes, Tensor out) {
    int[] s = a.shape();
    int[] as = st(a).strides;
    int[] os = st(out).strides;
    boolean[] reduced = new boolean[s.length];
    for (int ax : axes) {
      reduced[ax] = true;
    }
    int kept = s.length - axes.length;
    int[] oShape = new int[kept];
    int[] oOut = new int[kept];
    int[] oIn = new int[kept];
    int[] iShape = new int[axes.length];
    int[] iIn = new int[axes.length];
    for (int i = 0, o = 0, r = 0; i < s.length; i++) {
      if (reduced[i]) {
        iShape[r] = s[i];
        iIn[r++] = as[i];
      } else {
        oShape[o] = s[i];
        oOut[o] = os[i];
        oIn[o++] = as[i];
      }
    }
    Dims outer = Dims.collapsed(oShape, oOut, oIn);
    Dims inner = Dims.collapsed(iShape, new int[axes.length], iIn);
    int rows = outer.numel();
    if (rows == 0) {
      return;
    }
    Tensor x = as(a, out.dtype());
    int lead = leadingAxes(axes);
    if (op != ReduceOp.MAX && lead > 0 && lead < s.length && isContiguous(x) && isContiguous(out)
        && rows >= 32) {
      // a sum over the leading axes (a bias's gradient): column sums, coalesced
      int n = inner.numel();
      columnSums(0, n, rows, x, null, null, null, op == ReduceOp.MEAN ? n : 1.0, out, null);
      return;
    }
    launchRows(args(k("reduce", out.dtype())).i32(op.ordinal()).dims(outer).dims(inner)
        .ptr(addr(x)).ptr(addr(out)), rows);
  }

  /** m when {@code axes} are exactly the leading axes 0..m-1 (in any order), else 0. */
  private static int leadingAxes(int[] axes) {
    int[] sorted = axes.clone();
    java.util.Arrays.sort(sorted);
    for (int i = 0; i < sorted.length; i++) {
      if (sorted[i] != i) {
        return 0;
      }
    }
    return sorted.length;
  }

  @Override
  public void softmax(Tensor a, Tensor out) {
    rowKernel("softmax", a, out);
  }

  /** One kernel, a block per row: two reads of the row and one write ({@code log_softmax}). */
  @Override
  public void logSoftmax(Tensor a, Tensor out) {
    rowKernel("log_softmax", a, out);
  }

  /** out = kernel(a) row by row over the last axis (a block a row), any layout of a and out. */
  private void rowKernel(String kernel, Tensor a, Tensor out) {
    int C = a.shape()[a.shape().length - 1];
    int rows = C == 0 ? 0 : (int) (a.numel() / C);
    if (rows == 0) {
      return;
    }
    Tensor x = dense(a);
    Tensor y = isContiguous(out) ? out : empty(out.dtype(), out.shape());
    launchRows(args(k(kernel, out.dtype())).i32(rows).i32(C).ptr(addr(x)).ptr(addr(y)), rows);
    if (y != out) {
      assign(y, out);
    }
  }

  @Override
  public double sumOfSquares(Tensor x, double acc) {
    return sumOfSquares(java.util.List.of(x), acc);
  }

  /**
   * Each tensor's blocks write their partial sums into one scratch buffer, read back once; the
   * host adds them in order (tensor after tensor, block after block).
   */
  @Override
  public double sumOfSquares(java.util.List<Tensor> xs, double acc) {
    int total = squareBlocks(xs);
    if (total == 0) {
      return acc;
    }
    long partial = pool.takeScratch(8L * total);
    try {
      partialSquares(xs, partial);
      ByteBuffer b = download(partial, total, DType.FLOAT64);
      double sum = 0;
      for (int i = 0; i < total; i++) {
        sum += b.getDouble(8 * i);
      }
      return acc + sum;
    } finally {
      pool.give(partial, 8L * total);
    }
  }

  /** How many partial sums {@link #partialSquares} writes: up to 1024 blocks per tensor. */
  private int squareBlocks(java.util.List<Tensor> xs) {
    int total = 0;
    for (Tensor x : xs) {
      total += x.numel() == 0 ? 0 : Math.min(grid(x.numel()), 1024);
    }
    return total;
  }

  /** Each tensor's blocks write their sums of squares into partial, tensor after tensor. */
  private void partialSquares(java.util.List<Tensor> xs, long partial) {
    int at = 0;
    for (Tensor x : xs) {
      if (x.numel() > 0) {
        int blocks = Math.min(grid(x.numel()), 1024);
        Tensor c = dense(x);
        dev.launch(args(k("sum_squares", c.dtype())).i32((int) c.numel()).ptr(addr(c))
            .ptr(partial + 8L * at), blocks, THREADS);
        at += blocks;
      }
    }
  }

  /**
   * The partial sums of squares, then one thread adding them in order into the norm and
   * deciding, then one scaling launch per tensor that reads the decision: nothing is read back.
   */
  @Override
  public void clipByGlobalNorm(java.util.List<Tensor> xs, double maxNorm, Tensor norm) {
    TensorTables.Table table = table(null, xs);
    if (table != null) { // three launches for all the tensors
      long partial = pool.takeScratch(8L * (table.blocks() + 2)); // the partials, then the decision
      try {
        long decision = partial + 8L * table.blocks();
        DType dt = xs.get(0).dtype();
        dev.launch(args(k("sum_squares_many", dt)).i32(table.tensors()).ptr(table.address())
            .ptr(partial), table.blocks(), THREADS);
        dev.launch(args("clip_norm").i32(table.blocks()).f64(maxNorm).ptr(partial)
            .ptr(addr(norm)).ptr(decision), 1, THREADS);
        dev.launch(args(k("clip_scale_many", dt)).i32(table.tensors()).ptr(table.address())
            .ptr(decision), table.blocks(), THREADS);
      } finally {
        pool.give(partial, 8L * (table.blocks() + 2));
      }
      return;
    }
    int total = squareBlocks(xs);
    long partial = pool.takeScratch(8L * (total + 2)); // the partial sums, then {apply, scale}
    try {
      long decision = partial + 8L * total;
      partialSquares(xs, partial);
      dev.launch(args("clip_norm").i32(total).f64(maxNorm).ptr(partial).ptr(addr(norm))
          .ptr(decision), 1, THREADS);
      for (Tensor x : xs) {
        int n = (int) x.numel();
        if (n > 0) {
          launch(args(k("clip_scale", x.dtype())).i32(n).ptr(decision).ptr(addr(x)), n);
        }
      }
    } finally {
      pool.give(partial, 8L * (total + 2));
    }
  }

  @Override
  public boolean isFinite(Tensor t) {
    int n = (int) t.numel();
    if (n == 0) {
      return true;
    }
    Tensor c = dense(t);
    long flag = pool.takeScratch(4);
    try {
      dev.zero(flag, 4);
      launch(args(k("is_finite", t.dtype())).i32(n).ptr(addr(c)).ptr(flag), n);
      ByteBuffer b = ByteBuffer.allocateDirect(4).order(ByteOrder.LITTLE_ENDIAN);
      dev.toHost(b, flag);
      return b.getInt(0) == 0;
    } finally {
      pool.give(flag, 4);
    }
  }

  // ------------------------------------------------------------------ matrix multiply

  /** How cuBLAS reads one operand: its memory as the row-major storage of X or of X^T. */
  private record Operand(long address, boolean flip, int ld, long batchStride) {}

  /**
   * The last two axes (r, c) of t as a cuBLAS operand without a copy: row-major (unit column
   * stride) or column-major (unit row stride) with a leading dimension cuBLAS accepts; null if
   * neither (the caller copies).
   */
  private Operand operand(Tensor t) {
    int[] s = t.shape();
    int[] str = st(t).strides;
    int n = s.length;
    long batch = n == 3 ? (s[0] == 1 ? 0 : str[0]) : 0;
    return matrix(addr(t), s[n - 2], s[n - 1], str[n - 2], str[n - 1], batch);
  }

  /**
   * An r x c matrix at {@code address} with row stride sr and column stride sc (elements) as a
   * cuBLAS operand, the next one {@code batch} elements on; null where cuBLAS cannot read it.
   */
  private static Operand matrix(long address, int r, int c, int sr, int sc, long batch) {
    if (c == 1 || sc == 1) {
      int ld = r == 1 ? Math.max(c, 1) : sr;
      if (ld >= Math.max(1, c)) {
        return new Operand(address, false, ld, batch);
      }
    }
    if (r == 1 || sr == 1) {
      int ld = c == 1 ? Math.max(r, 1) : sc;
      if (ld >= Math.max(1, r)) {
        return new Operand(address, true, ld, batch);
      }
    }
    return null;
  }

  /** t as an operand, or a contiguous copy of it where cuBLAS cannot read t's layout. */
  private Operand operandOrCopy(Tensor t) {
    Operand o = operand(t);
    return o != null ? o : operand(dense(t));
  }

  @Override
  public void matmul(Tensor a, Tensor b, Tensor out, boolean transposeA, boolean transposeB) {
    DType dt = out.dtype();
    Tensor x = as(a, dt);
    Tensor y = as(b, dt);
    int[] os = out.shape();
    int M = os[os.length - 2];
    int N = os[os.length - 1];
    int[] xs = x.shape();
    int K = transposeA ? xs[xs.length - 2] : xs[xs.length - 1];
    int batch = os.length == 3 ? os[0] : 1;
    if (out.numel() == 0) {
      return;
    }
    Tensor c = isContiguous(out) ? out : empty(dt, os);
    if (K == 0) {
      fill(c, 0);
    } else if (dt == DType.FLOAT32 && precision == Precision.BF16) {
      Bf16Operand ab = bf16(x);
      Bf16Operand bb = bf16(y);
      try {
        bf16Gemm(bf16Operand(ab.address(), x), bf16Operand(bb.address(), y), transposeA,
            transposeB, M, N, K, batch, c);
      } finally {
        done(ab);
        done(bb);
        casts.trim(); // only now: the multiply's own copies are launched against
      }
    } else {
      Operand oa = operandOrCopy(x);
      Operand ob = operandOrCopy(y);
      CudaDriver.GemmType type = dt == DType.FLOAT64 ? CudaDriver.GemmType.F64
          : precision == Precision.TF32 ? CudaDriver.GemmType.TF32 : CudaDriver.GemmType.F32;
      gemm(type, oa, ob, transposeA, transposeB, M, N, K, batch, c);
    }
    if (c != out) {
      assign(c, out);
    }
  }

  /**
   * out = x op(w) + bias, float32: one cuBLASLt product with the bias in its epilogue where the
   * device has one ({@link CudaDriver#gemmBias}), so the product is written once and not read
   * back by an add; else the product, then the bias added in place. Operands as in
   * {@link #matmul} (bf16 copies from the cast cache in the bf16 mode). float64, empty shapes, or
   * the epilogue turned off ({@link #biasEpilogueWanted}): the interface's default.
   */
  @Override
  public void linear(Tensor x, Tensor w, boolean transposeW, Tensor bias, Tensor out) {
    int M = out.shape()[0];
    int N = out.shape()[1];
    int K = x.shape()[1];
    if (out.dtype() != DType.FLOAT32 || !biasEpilogue || M == 0 || N == 0 || K == 0
        || !isContiguous(out) || padsOutput(1, M, N)) {
      Backend.super.linear(x, w, transposeW, bias, out); // a padded output: matmul's
      return;
    }
    Tensor b = dense(bias); // (N) packed, as the epilogue reads it
    if (precision == Precision.BF16) {
      Bf16Operand ax = bf16(x);
      Bf16Operand aw = bf16(w);
      try {
        gemmBias(CudaDriver.GemmType.BF16, bf16Operand(ax.address(), x),
            bf16Operand(aw.address(), w), transposeW, M, N, K, b, out);
      } finally {
        done(ax);
        done(aw);
        casts.trim();
      }
      return;
    }
    gemmBias(precision == Precision.TF32 ? CudaDriver.GemmType.TF32 : CudaDriver.GemmType.F32,
        operandOrCopy(x), operandOrCopy(w), transposeW, M, N, K, b, out);
  }

  /**
   * Row-major C (M, N) = A op(B) + bias is column-major C^T = op(B)^T A^T, an N x M matrix whose N
   * rows each get their bias entry: cuBLASLt's epilogue broadcasts along the columns, as wanted.
   */
  private void gemmBias(CudaDriver.GemmType type, Operand oa, Operand ob, boolean transposeB,
      int M, int N, int K, Tensor bias, Tensor c) {
    if (!dev.gemmBias(type, transposeB ^ ob.flip(), oa.flip(), N, M, K, ob.address(), ob.ld(),
        oa.address(), oa.ld(), addr(bias), addr(c), N)) {
      gemm(type, oa, ob, false, transposeB, M, N, K, 1, c);
      binary(BinaryOp.ADD, c, bias, c); // in place: each element reads its own value first
    }
  }

  /**
   * Whether {@link #linear} adds biases in the product's epilogue: -Dsdpo.cuda.biasEpilogue /
   * SDPO_CUDA_BIAS_EPILOGUE, true unless false or 0 (which measures what it saves).
   */
  public static boolean biasEpilogueWanted() {
    return onUnlessOff("sdpo.cuda.biasEpilogue", "SDPO_CUDA_BIAS_EPILOGUE");
  }

  /**
   * Whether tokens are drawn on the device ({@link #sampleRows}): -Dsdpo.cuda.deviceSampling /
   * SDPO_CUDA_DEVICE_SAMPLING, true unless false or 0 (then the logits go to the host and the
   * CPU's sampler draws).
   */
  public static boolean deviceSamplingWanted() {
    return onUnlessOff("sdpo.cuda.deviceSampling", "SDPO_CUDA_DEVICE_SAMPLING");
  }

  /**
   * The bf16 mode's C (M, N), contiguous, = op(A) op(B) from bf16 copies: where C's rows are not
   * a multiple of 16 bytes (N % 4 != 0, one matrix, several rows) the product is written into
   * scratch with rows padded to 16 bytes and copied into C ({@link #padRowsWanted}).
   */
  private void bf16Gemm(Operand oa, Operand ob, boolean transposeA, boolean transposeB, int M,
      int N, int K, int batch, Tensor c) {
    if (!padsOutput(batch, M, N)) {
      gemm(CudaDriver.GemmType.BF16, oa, ob, transposeA, transposeB, M, N, K, batch, c);
      return;
    }
    int ld = (N + 3) / 4 * 4;
    long bytes = 4L * M * ld;
    long at = pool.takeScratch(bytes);
    try {
      gemm(CudaDriver.GemmType.BF16, oa, ob, transposeA, transposeB, M, N, K, 1,
          new Operand(at, false, ld, (long) M * ld));
      int[] shape = {M, N};
      Dims d = Dims.collapsed(shape, rowMajor(shape), new int[] {ld, 1});
      launch(args(k("map", DType.FLOAT32)).i32(32).f64(0).dims(d).ptr(at).ptr(addr(c)),
          d.numel());
    } finally {
      pool.give(at, bytes);
    }
  }

  /** Whether the bf16 mode writes a float32 product (batch, M, N) padded ({@link #bf16Gemm}). */
  private boolean padsOutput(int batch, int M, int N) {
    return padRows == PadRows.ALL && precision == Precision.BF16 && batch == 1 && M > 1
        && N % 4 != 0;
  }

  /** Which rows the bf16 mode pads ({@link #padRowsWanted}). */
  public enum PadRows {
    /** None: every product reads and writes rows as they lie. */
    NONE,
    /** The bf16 copies of the operands only. */
    OPERANDS,
    /** The operands' copies and float32 outputs (the default). */
    ALL
  }

  /**
   * Whether the bf16 mode pads the rows of its product operands and outputs to a multiple of 16
   * bytes: -Dsdpo.cuda.padRows / SDPO_CUDA_PAD_ROWS, 1 (the default: operands and outputs),
   * operands (the bf16 copies only, to tell the two apart on a GPU) or 0. cuBLAS's fastest
   * tensor-core kernels read and write rows that start 16 bytes apart; GPT-2's vocabulary of
   * 50,257 words makes every product with the logits or their gradient miss that: on an H200
   * ours ran at 95-145 TFLOP/s against 320-440 for the step's others, PyTorch's of that shape at
   * 124 against 620-660 for aligned ones
   * ({@code bench/results/h200-2026-11-30/torch-matmul-probe.txt}). So a bf16 copy whose rows are
   * not a multiple of 8 elements is laid out with its rows padded to one ({@link #bf16Strides}),
   * and a float32 output whose rows are not a multiple of 4 is written padded and copied
   * ({@link #bf16Gemm}). The values are the same (the padding is never read).
   */
  public static PadRows padRowsWanted() {
    String v = System.getProperty("sdpo.cuda.padRows", System.getenv("SDPO_CUDA_PAD_ROWS"));
    if (v == null || v.isBlank() || v.equals("1") || v.equalsIgnoreCase("true")) {
      return PadRows.ALL;
    }
    if (v.equals("0") || v.equalsIgnoreCase("false")) {
      return PadRows.NONE;
    }
    if (v.equalsIgnoreCase("operands")) {
      return PadRows.OPERANDS;
    }
    throw new IllegalArgumentException("SDPO_CUDA_PAD_ROWS (sdpo.cuda.padRows): expected 1, "
        + "operands or 0, got '" + v + "'");
  }

  /**
   * The layout (strides, elements) of a bf16 copy of a tensor of this shape: row-major, with its
   * rows padded to a multiple of 8 elements where they are not, there is more than one, and
   * padding is on ({@link #padRowsWanted}).
   */
  int[] bf16Strides(int[] shape) {
    int[] s = rowMajor(shape);
    int n = shape.length;
    if (padRows != PadRows.NONE && n >= 2 && shape[n - 2] > 1 && shape[n - 1] % 8 != 0) {
      s[n - 2] = (shape[n - 1] + 7) / 8 * 8;
      for (int k = n - 3; k >= 0; k--) {
        s[k] = s[k + 1] * shape[k + 1];
      }
    }
    return s;
  }

  /** The elements a copy laid out by {@link #bf16Strides} spans, padding included. */
  private static long bf16Elements(int[] shape, int[] strides) {
    return shape.length == 0 ? 1 : (long) shape[0] * strides[0];
  }

  /** Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: cuBLAS gets B first. */
  private void gemm(CudaDriver.GemmType type, Operand oa, Operand ob, boolean transposeA,
      boolean transposeB, int M, int N, int K, int batch, Tensor c) {
    gemm(type, oa, ob, transposeA, transposeB, M, N, K, batch,
        new Operand(addr(c), false, N, (long) M * N));
  }

  /** As above, into C where {@code oc} says (row-major: its flip is false). */
  private void gemm(CudaDriver.GemmType type, Operand oa, Operand ob, boolean transposeA,
      boolean transposeB, int M, int N, int K, int batch, Operand oc) {
    dev.gemm(type, transposeB ^ ob.flip(), transposeA ^ oa.flip(), N, M, K, 1.0, ob.address(),
        ob.ld(), ob.batchStride(), oa.address(), oa.ld(), oa.batchStride(), 0.0, oc.address(),
        oc.ld(), oc.batchStride(), batch);
  }

  /**
   * t's values rounded to bfloat16 at {@code address}, laid out by {@link #bf16Strides}: a cached
   * copy or scratch.
   */
  private record Bf16Operand(long address, long bytes, boolean cached) {}

  /**
   * t's values rounded to bfloat16: the cast cache's copy if it has a current one, else a cast
   * into new scratch, which the cache keeps if it is on. The caller hands it to {@link #done}.
   */
  private Bf16Operand bf16(Tensor t) {
    CudaStorage s = st(t);
    long src = s.address(); // read only: the block's version stays
    int[] shape = t.shape();
    int[] strides = broadcastStrides(t, shape);
    long n = t.numel();
    if (casts.enabled()) {
      long copy = casts.find(s.block, src, shape, strides, n);
      if (copy != 0) {
        if (checkCasts && capture == null) {
          checkCopy(src, shape, strides, copy, bf16Strides(shape));
        }
        return new Bf16Operand(copy, 0, true);
      }
    }
    int[] copyStrides = bf16Strides(shape);
    long bytes = 2 * bf16Elements(shape, copyStrides);
    long at = pool.takeScratch(bytes);
    if (bytes == 2 * n && isContiguous(t) && src % 16 == 0) { // four elements per thread
      launch(args("to_bf16_flat_f32").i32((int) n).ptr(src).ptr(at), Math.max(1, n / 4));
    } else {
      Dims d = Dims.collapsed(shape, copyStrides, strides);
      launch(args("to_bf16_f32").dims(d).ptr(src).ptr(at), d.numel());
    }
    if (casts.enabled()) {
      casts.add(s.block, src, shape, strides, at, bytes, n);
      return new Bf16Operand(at, 0, true);
    }
    return new Bf16Operand(at, bytes, false);
  }

  /** Whether bfloat16 bits are a NaN: exponent all ones, mantissa not zero. */
  private static boolean isNaN16(short bits) {
    return (bits & 0x7f80) == 0x7f80 && (bits & 0x007f) != 0;
  }

  /** Gives back an operand's scratch unless the cast cache keeps it. */
  private void done(Bf16Operand o) {
    if (!o.cached()) {
      pool.give(o.address(), o.bytes());
    }
  }

  /**
   * The cast cache's own check (on the fake device, and with {@code SDPO_CUDA_DEBUG=1}): the copy
   * it hands out must equal the view's values rounded to bfloat16 now, element by element;
   * otherwise something wrote the tensor without moving its version, and the multiply would use
   * stale operands.
   */
  private void checkCopy(long src, int[] shape, int[] strides, long copy, int[] copyStrides) {
    int n = numel(shape);
    long span = 1;
    for (int i = 0; i < shape.length; i++) {
      span += (long) (shape[i] - 1) * strides[i];
    }
    if (span > Integer.MAX_VALUE / 4) {
      return; // more than one host buffer holds: not checked
    }
    ByteBuffer values = host((int) span, DType.FLOAT32);
    dev.toHost(values, src);
    ByteBuffer bits = ByteBuffer.allocateDirect((int) (2 * bf16Elements(shape, copyStrides)))
        .order(ByteOrder.LITTLE_ENDIAN);
    dev.toHost(bits, copy);
    int[] idx = new int[shape.length];
    for (int i = 0; i < n; i++) {
      long off = 0;
      long at = 0;
      for (int a = 0; a < shape.length; a++) {
        off += (long) idx[a] * strides[a];
        at += (long) idx[a] * copyStrides[a];
      }
      short want = FakeKernels.bf16(values.getFloat((int) (4 * off)));
      short got = bits.getShort((int) (2 * at));
      if (want != got && !(isNaN16(want) && isNaN16(got))) { // a GPU may keep a NaN's payload
        throw new IllegalStateException("bf16 cast cache: the copy of a " + Arrays.toString(shape)
            + " tensor is stale at element " + i + " (a write did not move its block's version)");
      }
      for (int a = shape.length - 1; a >= 0 && ++idx[a] == shape[a]; a--) {
        idx[a] = 0;
      }
    }
  }

  /** t's bf16 copy at {@code address} ({@link #bf16Strides}) as a cuBLAS operand. */
  private Operand bf16Operand(long address, Tensor t) {
    int[] s = t.shape();
    int[] str = bf16Strides(s);
    int n = s.length;
    int c = s[n - 1];
    long batch = n == 3 && s[0] > 1 ? str[0] : 0;
    return new Operand(address, false, s[n - 2] == 1 ? Math.max(1, c) : str[n - 2], batch);
  }

  // ------------------------------------------------------------------ fused kernels

  /**
   * A kernel {@code (int n, T* a, T* b, ...)} over the N elements of contiguous tensors of one
   * dtype, the pointers in the order given.
   */
  private void elementwise(String kernel, Tensor... tensors) {
    int n = (int) tensors[0].numel();
    if (n > 0) {
      KernelArgs a = args(k(kernel, tensors[0].dtype())).i32(n);
      for (Tensor t : tensors) {
        a.ptr(addr(t));
      }
      launch(a, n);
    }
  }

  @Override
  public void gelu(Tensor x, Tensor y, Tensor t) {
    elementwise("gelu", x, y, t);
  }

  @Override
  public void geluBackward(Tensor x, Tensor t, Tensor g, Tensor dx) {
    elementwise("gelu_backward", x, t, g, dx);
  }

  @Override
  public void silu(Tensor x, Tensor y, Tensor s) {
    elementwise("silu", x, y, s);
  }

  @Override
  public void siluBackward(Tensor x, Tensor s, Tensor g, Tensor dx) {
    elementwise("silu_backward", x, s, g, dx);
  }

  private static int lastDim(Tensor t) {
    return t.shape()[t.shape().length - 1];
  }

  private static int rows(Tensor t) {
    int C = lastDim(t);
    return C == 0 ? 0 : (int) (t.numel() / C);
  }

  @Override
  public void rmsNorm(Tensor x, Tensor gamma, double eps, Tensor y, Tensor rstd) {
    int rows = rows(x);
    if (rows > 0) {
      launchRows(args(k("rms_norm", x.dtype())).i32(rows).i32(lastDim(x)).f64(eps).ptr(addr(x))
          .ptr(addr(gamma)).ptr(addr(y)).ptr(addr(rstd)), rows);
    }
  }

  @Override
  public void rmsNormBackward(Tensor x, Tensor gamma, Tensor rstd, Tensor g, Tensor dx,
      Tensor dgamma) {
    int rows = rows(x);
    int C = lastDim(x);
    if (rows > 0) {
      launchRows(args(k("rms_norm_backward", x.dtype())).i32(rows).i32(C).ptr(addr(x))
          .ptr(addr(gamma)).ptr(addr(rstd)).ptr(addr(g)).ptr(addr(dx)), rows);
    }
    if (C > 0) {
      columnSums(2, rows, C, g, x, rstd, rstd, 1.0, dgamma, null);
    }
  }

  @Override
  public void layerNorm(Tensor x, Tensor gamma, Tensor beta, double eps, Tensor y, Tensor mean,
      Tensor rstd) {
    int rows = rows(x);
    if (rows > 0) {
      launchRows(args(k("layer_norm", x.dtype())).i32(rows).i32(lastDim(x)).f64(eps)
          .ptr(addr(x)).ptr(addr(gamma)).ptr(addr(beta)).ptr(addr(y)).ptr(addr(mean))
          .ptr(addr(rstd)), rows);
    }
  }

  @Override
  public void layerNormBackward(Tensor x, Tensor gamma, Tensor mean, Tensor rstd, Tensor g,
      Tensor dx, Tensor dgamma, Tensor dbeta) {
    int rows = rows(x);
    int C = lastDim(x);
    if (rows > 0) {
      launchRows(args(k("layer_norm_backward", x.dtype())).i32(rows).i32(C).ptr(addr(x))
          .ptr(addr(gamma)).ptr(addr(mean)).ptr(addr(rstd)).ptr(addr(g)).ptr(addr(dx)), rows);
    }
    if (C > 0) {
      columnSums(1, rows, C, g, x, mean, rstd, 1.0, dgamma, dbeta);
    }
  }

  /** Blocks of column sums in flight: enough to fill a large GPU several times over. */
  private static final int COLUMN_SUM_BLOCKS = 1024;

  /**
   * Column sums of a (rows, C) matrix in a fixed order (kernels col_partial, col_finish): out0 =
   * sum over rows of g (mode 0, divided by divisor), of g xhat with xhat = (x - mean) rstd (mode 1,
   * layer norm's dgamma; out1 = dbeta, the sum of g) or of g x rstd (mode 2, RMS norm's dgamma).
   * The rows are cut into chunks so that the first launch has about COLUMN_SUM_BLOCKS blocks of
   * 32 columns; the chunking depends only on the shape, so the sums are deterministic.
   */
  private void columnSums(int mode, int rows, int C, Tensor g, Tensor x, Tensor mean, Tensor rstd,
      double divisor, Tensor out0, Tensor out1) {
    DType dt = out0.dtype();
    if (rows == 0) {
      fill(out0, mode == 0 ? 0.0 / divisor : 0.0);
      if (out1 != null) {
        fill(out1, 0);
      }
      return;
    }
    int tiles = (C + 31) / 32;
    int chunks = (int) Math.max(1, Math.min((rows + 63L) / 64,
        (COLUMN_SUM_BLOCKS + tiles - 1) / tiles));
    int rowsPerChunk = (rows + chunks - 1) / chunks;
    chunks = (rows + rowsPerChunk - 1) / rowsPerChunk;
    long bytes = 8L * (mode == 1 ? 2 : 1) * chunks * C;
    long partial = pool.takeScratch(bytes);
    try {
      dev.launch(args(k("col_partial", dt)).i32(mode).i32(rows).i32(C).i32(rowsPerChunk)
          .ptr(addr(g)).ptr(x == null ? 0 : addr(x)).ptr(mean == null ? 0 : addr(mean))
          .ptr(rstd == null ? 0 : addr(rstd)).ptr(partial),
          (int) Math.min((long) tiles * chunks, MAX_GRID), THREADS);
      launch(args(k("col_finish", dt)).i32(mode).i32(chunks).i32(C).f64(divisor).ptr(partial)
          .ptr(addr(out0)).ptr(out1 == null ? 0 : addr(out1)), C);
    } finally {
      pool.give(partial, bytes);
    }
  }

  @Override
  public void rope(Tensor x, Tensor cos, Tensor sin, int sign, Tensor y) {
    int[] s = x.shape();
    long work = x.numel() / 2;
    if (work > 0) {
      launch(args(k("rope", x.dtype())).i32(s[0]).i32(s[1]).i32(s[2]).i32(s[3]).i32(sign)
          .ptr(addr(x)).ptr(addr(cos)).ptr(addr(sin)).ptr(addr(y)), work);
    }
  }

  @Override
  public void softmaxBackward(Tensor y, Tensor g, double scale, Tensor dx) {
    int rows = rows(y);
    if (rows > 0) {
      launchRows(args(k("softmax_backward", y.dtype())).i32(rows).i32(lastDim(y)).f64(scale)
          .ptr(addr(y)).ptr(addr(g)).ptr(addr(dx)), rows);
    }
  }

  @Override
  public void logSoftmaxBackward(Tensor p, Tensor g, Tensor dx) {
    int rows = rows(p);
    if (rows > 0) {
      launchRows(args(k("log_softmax_backward", p.dtype())).i32(rows).i32(lastDim(p))
          .ptr(addr(p)).ptr(addr(g)).ptr(addr(dx)), rows);
    }
  }

  /** Indices uploaded to a block of this backend's pool, freed when they are unreachable. */
  private record DeviceIndices(DevicePool pool, DevicePool.Block block) {}

  /**
   * While a step is recorded, nothing is copied: the array itself is remembered and copied into
   * the block before each replay.
   */
  @Override
  public Indices indices(int[] values) {
    DevicePool.Block b = pool.take(4L * Math.max(1, values.length));
    if (capture != null) {
      capture.inputs.add(new Input(values, b));
    } else {
      uploadInts(b.address, values);
    }
    return Indices.onDevice(values, new DeviceIndices(pool, b));
  }

  /**
   * Runs {@code launch} with the device address of {@code ids}: their block, or a scratch copy
   * where they were made by another backend.
   */
  private void withIndices(Indices ids, java.util.function.LongConsumer launch) {
    if (ids.handle() instanceof DeviceIndices d && d.pool() == pool) {
      launch.accept(d.block().address);
    } else {
      withInts(ids.values(), launch);
    }
  }

  /** Runs {@code launch} with the device address of a scratch copy of {@code ints}. */
  private void withInts(int[] ints, java.util.function.LongConsumer launch) {
    long at = ints(ints);
    try {
      launch.accept(at);
    } finally {
      give(at, ints.length);
    }
  }

  /** Device scratch holding {@code ints}; the caller gives it back. */
  private long ints(int[] ints) {
    long at = pool.takeScratch(4L * Math.max(1, ints.length));
    uploadInts(at, ints);
    return at;
  }

  private int[] downloadInts(long at, int n) {
    int[] out = new int[n];
    if (n > 0) {
      ByteBuffer b = ByteBuffer.allocateDirect(4 * n).order(ByteOrder.LITTLE_ENDIAN);
      dev.toHost(b, at);
      for (int i = 0; i < n; i++) {
        out[i] = b.getInt(4 * i);
      }
    }
    return out;
  }

  private void uploadInts(long at, int[] ints) {
    if (ints.length > 0) {
      ByteBuffer b = ByteBuffer.allocateDirect(4 * ints.length).order(ByteOrder.LITTLE_ENDIAN);
      for (int v : ints) {
        b.putInt(v);
      }
      dev.toDevice(at, b.flip());
    }
  }

  private void give(long scratch, int ints) {
    pool.give(scratch, 4L * Math.max(1, ints));
  }

  /**
   * Two launches: one thread per row picks logp at its target into scratch, then one thread adds
   * the picks in row order (the CPU's order) and writes the mean and the count.
   */
  @Override
  public void crossEntropyLoss(Tensor logp, Indices targets, int ignoreIndex, Tensor out) {
    int rows = targets.length();
    long picked = pool.takeScratch(8L * Math.max(1, rows));
    try {
      withIndices(targets, t -> { // one address (or one scratch copy) for both launches
        if (rows > 0) {
          launch(args(k("nll_pick", logp.dtype())).i32(rows).i32(lastDim(logp)).i32(ignoreIndex)
              .ptr(addr(logp)).ptr(t).ptr(picked), rows);
        }
        dev.launch(args("nll_mean").i32(rows).i32(ignoreIndex).ptr(t).ptr(picked)
            .ptr(addr(out)), 1, THREADS);
      });
    } finally {
      pool.give(picked, 8L * Math.max(1, rows));
    }
  }

  @Override
  public void crossEntropyBackward(Tensor p, Indices targets, int ignoreIndex, Tensor g,
      Tensor stats, Tensor dx) {
    int rows = targets.length();
    if (rows == 0) {
      return;
    }
    int V = lastDim(p);
    withIndices(targets, t -> launch(args(k("cross_entropy_backward", p.dtype())).i32(rows)
        .i32(V).i32(ignoreIndex).ptr(addr(g)).ptr(addr(stats)).ptr(addr(p)).ptr(t)
        .ptr(addr(dx)), (long) rows * V));
  }

  @Override
  public void log1mexp(Tensor x, Tensor y) {
    elementwise("log1mexp", x, y);
  }

  @Override
  public void log1mexpBackward(Tensor x, Tensor g, Tensor dx) {
    elementwise("log1mexp_backward", x, g, dx);
  }

  @Override
  public void blendCoefficients(Tensor lp, Tensor p, Tensor lq, Indices tokens, Tensor tokenTerm,
      double lambda, double clip, Tensor c) {
    int N = lp.shape()[0];
    int V = lastDim(lp);
    if (N == 0 || V == 0) {
      return;
    }
    withIndices(tokens, t -> launch(args(k("blend_coefficients", c.dtype())).i32(N).i32(V)
        .f64(lambda).f64(clip).ptr(addr(lp)).ptr(addr(p)).ptr(addr(lq)).ptr(t)
        .ptr(addr(tokenTerm)).ptr(addr(c)), (long) N * V));
  }

  @Override
  public void pickBackward(Tensor g, Indices idx, Tensor dx) {
    int N = dx.shape()[0];
    int K = lastDim(dx);
    if (N == 0 || K == 0) {
      return;
    }
    int J = idx.length() / N;
    withIndices(idx, i -> launch(args(k("pick_backward", dx.dtype())).i32(N).i32(J).i32(K)
        .ptr(addr(g)).ptr(i).ptr(addr(dx)), (long) N * K));
  }

  @Override
  public void dropoutMask(Tensor mask, double p, Rng rng) {
    int n = (int) mask.numel();
    double[] m = new double[n];
    HostKernels.dropoutMask(Buf.of(java.nio.DoubleBuffer.wrap(m), 0, n), p, rng);
    upload(addr(mask), m, 0, n, mask.dtype());
  }

  /** The largest head size the flash kernels take (FA_DMAX in the kernels). */
  static final int FLASH_MAX_HEAD = 128;
  /** Queries (forward, dQ) and keys (dK, dV) a flash kernel's block takes (FA_BR, FA_BC). */
  private static final int FLASH_QUERY_TILE = 64;
  private static final int FLASH_KEY_TILE = 32;

  /**
   * Probabilities larger than this per attention call (bytes, at 4 a value) make the backend
   * prefer the flash kernels: below it, the probabilities' path (batched cuBLAS products, which
   * run on the tensor cores in bf16 and tf32) was measured on a GPU and the flash kernels were
   * not; above it, the probabilities of every layer kept for the backward are what fills the
   * device (GPT-2 at batch 8 x 1024: 403 MB a layer, under it; a 24-layer model with 14 heads at
   * 8 x 2048: 1.9 GB a layer, over it).
   */
  static final long FLASH_ABOVE_BYTES = 512L << 20;

  /**
   * The flash kernels where a row has more than one query (training, scoring, a prompt), the head
   * size fits them, and the probabilities would pass {@link #FLASH_ABOVE_BYTES}: then no
   * (B, H, Tq, Tk) tensor is kept, and no bf16 copy of it made. {@code SDPO_ATTENTION=flash}
   * takes them for every shape (gpu-check.sh times GPT-2 both ways).
   */
  @Override
  public boolean prefersFlashAttention(int[] qShape, int[] kShape) {
    long probabilities = 4L * qShape[0] * qShape[1] * qShape[2] * kShape[2];
    return qShape[2] > 1 && qShape[3] <= FLASH_MAX_HEAD && probabilities > FLASH_ABOVE_BYTES;
  }

  /** The largest head size the tensor-core flash kernels take (TC_DMAX in the kernels). */
  static final int TC_FLASH_MAX_HEAD = 64;
  /** Threads of a tensor-core flash kernel's block (TC_THREADS: four warps). */
  private static final int TC_FLASH_THREADS = 128;
  /** Queries (forward, dQ) and keys (dK, dV) a tensor-core flash block takes (TC_BR). */
  private static final int TC_FLASH_TILE = 64;

  /**
   * Whether flash attention on {@code q} runs on the tensor cores (flash_tc_*: bf16 operands,
   * float accumulation): in the bf16 precision mode, for float32 tensors whose head size is a
   * multiple of 16 up to {@link #TC_FLASH_MAX_HEAD}, on compute capability 8.0 or newer, unless
   * {@code SDPO_FLASH_TENSOR_CORES=0} (gpu-check.sh times both).
   */
  public boolean tensorCoreFlash(Tensor q) {
    int D = q.dim(3);
    return precision == Precision.BF16 && q.dtype() == DType.FLOAT32 && D % 16 == 0
        && D <= TC_FLASH_MAX_HEAD && dev.computeCapability() >= 80 && TENSOR_CORE_FLASH;
  }

  private static final boolean TENSOR_CORE_FLASH = !"0".equals(System.getProperty(
      "sdpo.flashTensorCores", System.getenv("SDPO_FLASH_TENSOR_CORES")));

  /**
   * Reads q, k, v and writes out where they lie: the kernels take each tensor's batch, head and
   * position strides ({@link #flashHeads}), so a GPT-2 block's heads cost no copy.
   */
  @Override
  public void flashAttention(Tensor q, Tensor k, Tensor v, double scale, Tensor keyMask,
      boolean causal, int queryOffset, Tensor lse, Tensor out) {
    int[] qs = q.shape(); // (B, H, Tq, D)
    flashHeadFits(qs[3]);
    Tensor[] t = {flashHeads(q, false), flashHeads(k, false), flashHeads(v, false),
        flashHeads(out, true)};
    boolean tc = tensorCoreFlash(q) && quadAligned(t[0], t[1], t[2]);
    int tile = tc ? TC_FLASH_TILE : FLASH_QUERY_TILE;
    long blocks = (long) qs[0] * qs[1] * ((qs[2] + tile - 1) / tile);
    if (blocks > 0) {
      Tensor km = keyMask == null ? null : dense(as(keyMask, q.dtype()));
      KernelArgs a = tc ? tcFlashArgs("flash_tc_forward_f32", q, k, scale, km, causal,
          queryOffset) : flashArgs("flash_forward", q, k, scale, km, causal, queryOffset);
      dev.launch(a.heads(faHeads(t)).ptr(addr(t[0])).ptr(addr(t[1])).ptr(addr(t[2]))
          .ptr(addr(lse)).ptr(addr(t[3])), flashGrid(blocks), tc ? TC_FLASH_THREADS : THREADS);
    }
    copyBack(t[3], out);
  }

  /**
   * Three launches: delta = rowsum(G ∘ out) into scratch, then dQ by query tiles and dK, dV by
   * key tiles, each recomputing P from lse (two kernels rather than atomics: deterministic).
   * Every tensor read or written where it lies, as in {@link #flashAttention}.
   */
  @Override
  public void flashAttentionBackward(Tensor q, Tensor k, Tensor v, Tensor out, Tensor lse,
      Tensor g, double scale, Tensor keyMask, boolean causal, int queryOffset, Tensor dq,
      Tensor dk, Tensor dv) {
    int[] qs = q.shape(); // (B, H, Tq, D)
    int[] ks = k.shape(); // (B, Hkv, Tk, D)
    flashHeadFits(qs[3]);
    Tensor[] t = {flashHeads(q, false), flashHeads(k, false), flashHeads(v, false),
        flashHeads(out, false), flashHeads(g, false), flashHeads(dq, true),
        flashHeads(dk, true), flashHeads(dv, true)};
    int[][] hs = faHeads(t);
    boolean tc = tensorCoreFlash(q) && quadAligned(t[0], t[1], t[2], t[4]);
    int threads = tc ? TC_FLASH_THREADS : THREADS;
    int rows = qs[0] * qs[1] * qs[2];
    Tensor km = keyMask == null ? null : dense(as(keyMask, q.dtype()));
    long bytes = (long) q.dtype().bytes() * Math.max(1, rows);
    long delta = pool.takeScratch(bytes);
    try {
      if (rows > 0) {
        dev.launch(args(k("flash_delta", q.dtype())).i32(qs[0]).i32(qs[1]).i32(qs[2])
            .i32(qs[3]).heads(hs).ptr(addr(t[4])).ptr(addr(t[3])).ptr(delta),
            rowBlocks(rows, qs[3]), THREADS);
        int tile = tc ? TC_FLASH_TILE : FLASH_QUERY_TILE;
        long blocks = (long) qs[0] * qs[1] * ((qs[2] + tile - 1) / tile);
        KernelArgs a = tc ? tcFlashArgs("flash_tc_backward_dq_f32", q, k, scale, km, causal,
            queryOffset) : flashArgs("flash_backward_dq", q, k, scale, km, causal, queryOffset);
        dev.launch(a.heads(hs).ptr(addr(t[0])).ptr(addr(t[1])).ptr(addr(t[2])).ptr(addr(t[4]))
            .ptr(addr(lse)).ptr(delta).ptr(addr(t[5])), flashGrid(blocks), threads);
      }
      int tile = tc ? TC_FLASH_TILE : FLASH_KEY_TILE;
      long blocks = (long) ks[0] * ks[1] * ((ks[2] + tile - 1) / tile);
      if (blocks > 0) {
        KernelArgs a = tc ? tcFlashArgs("flash_tc_backward_dkdv_f32", q, k, scale, km, causal,
            queryOffset) : flashArgs("flash_backward_dkdv", q, k, scale, km, causal, queryOffset);
        dev.launch(a.heads(hs).ptr(addr(t[0])).ptr(addr(t[1])).ptr(addr(t[2])).ptr(addr(t[4]))
            .ptr(addr(lse)).ptr(delta).ptr(addr(t[6])).ptr(addr(t[7])), flashGrid(blocks),
            threads);
      }
    } finally {
      pool.give(delta, bytes);
    }
    copyBack(t[5], dq);
    copyBack(t[6], dk);
    copyBack(t[7], dv);
  }

  /**
   * t (B, heads, T, D) as the flash kernels take it: itself where its head dimension is
   * contiguous (they read a stride per batch row, head and position), else a contiguous copy
   * ({@code written}: contiguous scratch, which {@link #copyBack} copies into t).
   */
  private Tensor flashHeads(Tensor t, boolean written) {
    if (t.dim(3) == 1 || st(t).strides[3] == 1) {
      return t;
    }
    return written ? empty(t.dtype(), t.shape()) : dense(t);
  }

  /**
   * The kernels' FaHeads: the batch, head and position strides of q, k, v, out, g, dq, dk, dv
   * (slots FA_Q .. FA_DV), the first slots.length of them; 0 for a slot without a tensor.
   */
  private int[][] faHeads(Tensor... slots) {
    int[][] hs = new int[8][3];
    for (int x = 0; x < slots.length; x++) {
      if (slots[x] != null) {
        int[] str = st(slots[x]).strides;
        hs[x] = new int[] {str[0], str[1], str[2]};
      }
    }
    return hs;
  }

  /**
   * Whether the tensor-core kernels' float4 loads may read these heads: each starts 16 bytes
   * aligned and steps by a multiple of 4 elements along every axis longer than 1.
   */
  private boolean quadAligned(Tensor... ts) {
    for (Tensor t : ts) {
      CudaStorage c = st(t);
      if (c.address() % 16 != 0) { // read, not written: no version moved (addr would)
        return false;
      }
      int[] str = c.strides;
      for (int d = 0; d < 3; d++) {
        if (t.dim(d) > 1 && str[d] % 4 != 0) {
          return false;
        }
      }
    }
    return true;
  }

  /** The flash kernels' leading arguments: shapes, masks and scale. */
  private KernelArgs flashArgs(String kernel, Tensor q, Tensor k, double scale, Tensor km,
      boolean causal, int queryOffset) {
    return flashArgs(args(k(kernel, q.dtype())), q, k, scale, km, causal, queryOffset);
  }

  /** The same for a tensor-core kernel (float32 only: its name has the suffix). */
  private KernelArgs tcFlashArgs(String kernel, Tensor q, Tensor k, double scale, Tensor km,
      boolean causal, int queryOffset) {
    return flashArgs(args(kernel), q, k, scale, km, causal, queryOffset);
  }

  private KernelArgs flashArgs(KernelArgs a, Tensor q, Tensor k, double scale, Tensor km,
      boolean causal, int queryOffset) {
    int[] qs = q.shape();
    return a.i32(qs[0]).i32(qs[1]).i32(k.dim(1)).i32(qs[2])
        .i32(k.dim(2)).i32(qs[3]).i32(causal ? 1 : 0).i32(queryOffset).f64(scale)
        .i32(km == null ? 0 : 1).ptr(km == null ? 0 : addr(km));
  }

  private static int flashGrid(long blocks) {
    return (int) Math.max(1, Math.min(blocks, MAX_GRID)); // the kernels loop over the rest
  }

  private static void flashHeadFits(int D) {
    if (D > FLASH_MAX_HEAD) {
      throw new IllegalArgumentException("flash attention: the CUDA kernels take head sizes up to "
          + FLASH_MAX_HEAD + ", got " + D + " (SDPO_ATTENTION=probabilities avoids them)");
    }
  }

  /**
   * Attention's products on the heads where they lie: a GPT-2 block passes Q, K and V as views
   * (B, H, T, D) of its projection's (B, T, 3, H, D) output and its output as a view of
   * (B, T, H, D), which cuBLAS reads and writes with a leading dimension of 3 H D or H D and the
   * heads D apart ({@link #headProducts}). S = Q Kᵀ, the masked softmax in place, O = P V. Views
   * whose heads are not evenly spaced take one product per batch row where that pays
   * ({@link #readsHeadsInPlace}), else a contiguous copy. Grouped-query heads (H &gt; Hkv, whose
   * default lays a group's queries side by side) and views cuBLAS cannot read take the
   * interface's default.
   */
  @Override
  public void attention(Tensor q, Tensor k, Tensor v, double scale, Tensor keyMask,
      boolean causal, int queryOffset, Tensor p, Tensor out) {
    if (q.dim(1) != k.dim(1) || !headsReadable(q, k, v, out)) {
      Backend.super.attention(q, k, v, scale, keyMask, causal, queryOffset, p, out);
      return;
    }
    boolean inPlace = readsHeadsInPlace(q.shape(), k.shape());
    Tensor o = output(out, inPlace);
    headProducts(heads(q, inPlace), heads(k, inPlace), p, false, true); // S = Q Kᵀ
    attentionSoftmax(p, scale, keyMask, causal, queryOffset, p);
    headProducts(p, heads(v, inPlace), o, false, false); // O = P V
    copyBack(o, out);
  }

  /**
   * The interface's products (dV = Pᵀ G, dP = G Vᵀ, dS by the softmax backward, dQ = dS K,
   * dK = dSᵀ Q) on the heads where they lie, as {@link #attention}: a GPT-2 block's gradients go
   * straight into their windows of dL/d qkv, read as its heads.
   */
  @Override
  public void attentionBackward(Tensor q, Tensor k, Tensor v, Tensor p, Tensor g, double scale,
      Tensor dq, Tensor dk, Tensor dv) {
    if (q.dim(1) != k.dim(1) || !headsReadable(q, k, v, g, dq, dk, dv)) {
      Backend.super.attentionBackward(q, k, v, p, g, scale, dq, dk, dv);
      return;
    }
    boolean inPlace = readsHeadsInPlace(q.shape(), k.shape());
    Tensor gh = heads(g, inPlace);
    if (dv != null) {
      Tensor o = output(dv, inPlace);
      headProducts(p, gh, o, true, false); // dV = Pᵀ G
      copyBack(o, dv);
    }
    if (dq == null && dk == null) {
      return;
    }
    Tensor dP = empty(p.dtype(), p.shape());
    headProducts(gh, heads(v, inPlace), dP, false, true); // dP = G Vᵀ
    Tensor dS = empty(p.dtype(), p.shape());
    softmaxBackward(p, dP, scale, dS);
    if (dq != null) {
      Tensor o = output(dq, inPlace);
      headProducts(dS, heads(k, inPlace), o, false, false); // dQ = dS K
      copyBack(o, dq);
    }
    if (dk != null) {
      Tensor o = output(dk, inPlace);
      headProducts(dS, heads(q, inPlace), o, true, false); // dK = dSᵀ Q
      copyBack(o, dk);
    }
  }

  /** t as attention's products read it: in place, or a contiguous copy where uneven. */
  private Tensor heads(Tensor t, boolean inPlace) {
    return inPlace || evenHeads(t) ? t : dense(t);
  }

  /** Where a product writes t: t itself, or contiguous scratch ({@link #copyBack} into t). */
  private Tensor output(Tensor t, boolean inPlace) {
    return inPlace || evenHeads(t) ? t : empty(t.dtype(), t.shape());
  }

  private void copyBack(Tensor written, Tensor t) {
    if (written != t) {
      assign(written, t);
    }
  }

  /** Whether t's heads are evenly spaced: one strided batch over all B H of them. */
  private boolean evenHeads(Tensor t) {
    int[] str = st(t).strides;
    return t.dim(0) == 1 || t.dim(1) == 1 || str[0] == (long) t.dim(1) * str[1];
  }

  /** One 4-D view's matrices for cuBLAS: (b, h) = (0, 0) and the b and h strides (elements). */
  private record Heads(Operand m, long strideB, long strideH) {}

  /**
   * The view (B, H, r, c) as per-head cuBLAS matrices at {@code address} (which holds its
   * element (0, 0, 0, 0)) with {@code strides}; null where cuBLAS cannot read its matrices.
   */
  private static Heads heads(long address, int[] shape, int[] strides) {
    Operand m = matrix(address, shape[2], shape[3], strides[2], strides[3], strides[1]);
    return m == null ? null : new Heads(m, strides[0], strides[1]);
  }

  /**
   * The least work (multiply-adds) of one batch row's product over its heads for which
   * attention's products read uneven views in place ({@link #readsHeadsInPlace}): GPT-2 124M at T
   * 1,024 does 805 M, the demo's model 131 K.
   */
  static final long HEAD_PRODUCT_MIN_MACS = 1L << 22;
  /**
   * {@link #HEAD_PRODUCT_MIN_MACS}, or what -Dsdpo.cuda.headsInPlace / SDPO_CUDA_HEADS_IN_PLACE
   * asks: 1 (every size: 0), 0 (none: the largest long), auto (the default).
   */
  final long headProductMinMacs = headProductMinMacsWanted();

  private static long headProductMinMacsWanted() {
    String v = System.getProperty("sdpo.cuda.headsInPlace",
        System.getenv("SDPO_CUDA_HEADS_IN_PLACE"));
    if (v == null || v.isBlank() || v.equalsIgnoreCase("auto")) {
      return HEAD_PRODUCT_MIN_MACS;
    }
    if (v.equals("1") || v.equalsIgnoreCase("true")) {
      return 0;
    }
    if (v.equals("0") || v.equalsIgnoreCase("false")) {
      return Long.MAX_VALUE;
    }
    throw new IllegalArgumentException("SDPO_CUDA_HEADS_IN_PLACE (sdpo.cuda.headsInPlace): "
        + "expected auto, 1 or 0, got '" + v + "'");
  }

  @Override
  public boolean readsHeadsInPlace(int[] qShape, int[] kShape) {
    return qShape[1] == kShape[1] && headProductMinMacs != Long.MAX_VALUE && (qShape[0] == 1
        || (long) qShape[1] * qShape[2] * kShape[2] * qShape[3] >= headProductMinMacs);
  }

  /** Whether every tensor given (null: none) is a 4-D view whose matrices cuBLAS reads. */
  private boolean headsReadable(Tensor... ts) {
    for (Tensor t : ts) {
      if (t != null && heads(0, t.shape(), st(t).strides) == null) {
        return false;
      }
    }
    return true;
  }

  /**
   * c[b, h] = op(a[b, h]) op(b[b, h]) for 4-D views a, b, c (B, H, ., .), each read or written
   * in place with its own strides: one strided-batched product over all B H heads where every
   * operand's b stride is H times its h stride (contiguous heads), else one per b over the H
   * heads. c's rows must be unit-stride (else the product goes through a contiguous tensor). In
   * the bf16 mode a and b are the cast cache's copies, contiguous.
   */
  private void headProducts(Tensor a, Tensor b, Tensor c, boolean transposeA,
      boolean transposeB) {
    int[] cs = c.shape();
    int B = cs[0];
    int H = cs[1];
    int M = cs[2];
    int N = cs[3];
    int K = transposeA ? a.dim(2) : a.dim(3);
    if (c.numel() == 0) {
      return;
    }
    int[] cStr = st(c).strides;
    if (cStr[3] != 1 && N > 1 || cStr[2] < N && M > 1) {
      Tensor t = empty(c.dtype(), cs);
      headProducts(a, b, t, transposeA, transposeB);
      assign(t, c);
      return;
    }
    if (K == 0) {
      fill(c, 0);
      return;
    }
    DType dt = c.dtype();
    Bf16Operand ba = null;
    Bf16Operand bb = null;
    try {
      Heads ha;
      Heads hb;
      CudaDriver.GemmType type;
      long ea; // bytes per element of a's and b's matrices as cuBLAS reads them
      if (dt == DType.FLOAT32 && precision == Precision.BF16) {
        ba = bf16(a);
        bb = bf16(b);
        ha = heads(ba.address(), a.shape(), bf16Strides(a.shape()));
        hb = heads(bb.address(), b.shape(), bf16Strides(b.shape()));
        type = CudaDriver.GemmType.BF16;
        ea = 2;
      } else {
        ha = heads(addr(a), a.shape(), st(a).strides);
        hb = heads(addr(b), b.shape(), st(b).strides);
        type = dt == DType.FLOAT64 ? CudaDriver.GemmType.F64
            : precision == Precision.TF32 ? CudaDriver.GemmType.TF32 : CudaDriver.GemmType.F32;
        ea = dt.bytes();
      }
      long ec = dt.bytes();
      Heads hc = new Heads(new Operand(addr(c), false, M == 1 ? N : cStr[2], cStr[1]), cStr[0],
          cStr[1]);
      // all B H heads in one product where each operand's heads are evenly spaced
      boolean even = H == 1 || B == 1 || (ha.strideB() == H * ha.strideH()
          && hb.strideB() == H * hb.strideH() && hc.strideB() == H * hc.strideH());
      int products = even ? 1 : B;
      int batch = even ? B * H : H;
      for (int i = 0; i < products; i++) {
        gemm(type, step(ha, i, ea, H == 1 && even), step(hb, i, ea, H == 1 && even), transposeA,
            transposeB, M, N, K, batch, step(hc, i, ec, H == 1 && even));
      }
    } finally {
      if (ba != null) {
        done(ba);
      }
      if (bb != null) {
        done(bb);
      }
      casts.trim();
    }
  }

  /**
   * Batch row i's heads of h as one strided batch ({@code bytes} per element): its matrix i b
   * strides on; with {@code byB} (one head a row: the batch runs over b) the b stride as the
   * batch's.
   */
  private static Operand step(Heads h, int i, long bytes, boolean byB) {
    Operand m = h.m();
    return new Operand(m.address() + i * h.strideB() * bytes, m.flip(), m.ld(),
        byB ? h.strideB() : m.batchStride());
  }

  @Override
  public void attentionSoftmax(Tensor s, double scale, Tensor keyMask, boolean causal,
      int queryOffset, Tensor p) {
    int[] sh = s.shape(); // (B, H, Tq, Tk)
    int rows = sh[0] * sh[1] * sh[2];
    if (rows == 0 || sh[3] == 0) {
      return;
    }
    Tensor km = keyMask == null ? null : dense(as(keyMask, s.dtype()));
    dev.launch(args(k("attention_softmax", s.dtype())).i32(rows).i32(sh[1]).i32(sh[2])
        .i32(sh[3]).i32(causal ? 1 : 0).i32(queryOffset).f64(scale).i32(km == null ? 0 : 1)
        .ptr(km == null ? 0 : addr(km)).ptr(addr(s)).ptr(addr(p)), rowBlocks(rows, sh[3]),
        THREADS);
  }

  @Override
  public void adamw(Tensor p, Tensor g, Tensor m, Tensor v, Tensor step, double beta1,
      double beta2, double eps, double weightDecay) {
    int n = (int) p.numel();
    if (n > 0) {
      launch(args(k("adamw", p.dtype())).i32(n).ptr(addr(step)).f64(beta1).f64(beta2).f64(eps)
          .f64(weightDecay).ptr(addr(p)).ptr(addr(g)).ptr(addr(m)).ptr(addr(v)), n);
    }
  }

  /**
   * Every tensor's update in one launch ({@code adamw_many}, one chunk of 4,096 elements a block)
   * where the lists' table is on the device or can be put there; else one launch per tensor.
   */
  @Override
  public void adamw(java.util.List<Tensor> ps, java.util.List<Tensor> gs,
      java.util.List<Tensor> ms, java.util.List<Tensor> vs, Tensor step, double beta1,
      double beta2, double eps, double[] weightDecay) {
    TensorTables.Table table = table(weightDecay, ps, gs, ms, vs);
    if (table == null) {
      Backend.super.adamw(ps, gs, ms, vs, step, beta1, beta2, eps, weightDecay);
      return;
    }
    dev.launch(args(k("adamw_many", ps.get(0).dtype())).i32(table.tensors())
        .ptr(table.address()).ptr(addr(step)).f64(beta1).f64(beta2).f64(eps), table.blocks(),
        THREADS);
  }

  /**
   * The device table of up to four parallel lists of tensors (a row per index: their addresses, the
   * element count, {@code extra}'s value), or null where the kernels over many tensors cannot
   * take them: not all of one dtype, not all contiguous, all empty, or a table not yet on the
   * device while a step is recorded. Every tensor's address is handed out as for any kernel
   * (its block's version moves), and a recorded step keeps the table.
   */
  @SafeVarargs
  private TensorTables.Table table(double[] extra, java.util.List<Tensor>... lists) {
    java.util.List<Tensor> a = lists[0]; // the first list gives each row's element count
    if (a.isEmpty()) {
      return null;
    }
    DType dt = a.get(0).dtype();
    for (java.util.List<Tensor> l : lists) {
      for (Tensor t : l) {
        if (t.dtype() != dt || !isContiguous(t)) {
          return null;
        }
      }
    }
    long[][] addresses = new long[a.size()][lists.length];
    long[] counts = new long[a.size()];
    for (int i = 0; i < a.size(); i++) {
      counts[i] = a.get(i).numel();
      for (int j = 0; j < lists.length; j++) {
        addresses[i][j] = addr(lists[j].get(i));
      }
    }
    TensorTables.Table table = tables.find(addresses, counts, extra, capture == null);
    if (table != null && capture != null) {
      capture.retained.add(table.storage()); // a replay reads it: it lives as long as the step
    }
    return table;
  }

  @Override
  public void ema(Tensor t, Tensor s, double rate) {
    int n = (int) t.numel();
    if (n > 0) {
      launch(args(k("ema", t.dtype())).i32(n).f64(rate).ptr(addr(t)).ptr(addr(s)), n);
    }
  }

  // ------------------------------------------------------------------ gathers

  @Override
  public void gatherRows(Tensor table, Indices ids, Tensor out) {
    int M = ids.length();
    int C = lastDim(table);
    if (M == 0 || C == 0) {
      return;
    }
    withIndices(ids, i -> launch(args(k("gather_rows", out.dtype())).i32(M).i32(C)
        .ptr(addr(table)).ptr(i).ptr(addr(out)), (long) M * C));
  }

  /** Blocks of scatterAddRows: each owns a range of table rows and reads every id. */
  private static final int SCATTER_BLOCKS = 512;

  @Override
  public void scatterAddRows(Tensor src, Indices ids, Tensor table) {
    int M = ids.length();
    int C = lastDim(table);
    if (M == 0 || C == 0) {
      return;
    }
    int N = table.shape()[0];
    if (N == 0) {
      return;
    }
    int tiles = (C + THREADS - 1) / THREADS;
    int ranges = Math.max(1, Math.min(N, (SCATTER_BLOCKS + tiles - 1) / tiles));
    int rangeRows = (N + ranges - 1) / ranges;
    int blocks = (int) Math.min((long) tiles * ((N + rangeRows - 1) / rangeRows), MAX_GRID);
    withIndices(ids, i -> dev.launch(args(k("scatter_add_rows", table.dtype())).i32(M).i32(C)
        .i32(N).i32(rangeRows).ptr(addr(src)).ptr(i).ptr(addr(table)), blocks, THREADS));
  }

  @Override
  public void pick(Tensor x, Indices idx, Tensor out) {
    int M = idx.length();
    if (M == 0) {
      return;
    }
    int J = M / x.shape()[0];
    withIndices(idx, i -> launch(args(k("pick", out.dtype())).i32(M).i32(J).i32(lastDim(x))
        .ptr(addr(x)).ptr(i).ptr(addr(out)), M));
  }

  /** The largest K the top_k kernel takes (TOPK_MAX in the kernels: its shared memory). */
  static final int TOPK_MAX = 1024;

  /**
   * One block a row (the top_k kernel), the ids left in a block of the pool, read back only if
   * asked. A K above {@link #TOPK_MAX} is ranked on the host (the CPU's heap over a copy of x).
   */
  @Override
  public Indices topK(Tensor x, int K) {
    int N = x.shape()[0];
    int V = x.shape()[1];
    if (K > TOPK_MAX) {
      double[] host = toDoubles(x);
      return indices(HostKernels.topK(Buf.of(java.nio.DoubleBuffer.wrap(host), 0, host.length),
          N, V, K));
    }
    DevicePool.Block b = pool.take(4L * Math.max(1, (long) N * K));
    if (N > 0) {
      launchRows(args(k("top_k", x.dtype())).i32(N).i32(V).i32(K).ptr(addr(x)).ptr(b.address),
          N);
    }
    int length = N * K;
    return Indices.computed(length, V, null, new DeviceIndices(pool, b),
        () -> downloadInts(b.address, length));
  }

  // ------------------------------------------------------------------ sampling

  @Override
  public void sampleRows(Tensor logits, boolean[] active, double temperature, int topK,
      double topP, boolean greedy, double[] u, int[] tokens, double[] logprobs) {
    int B = logits.shape()[0];
    int V = logits.shape()[1];
    if (!deviceSampling) {
      double[] host = toDoubles(logits);
      HostKernels.sampleRows(Buf.of(java.nio.DoubleBuffer.wrap(host), 0, host.length), V, active,
          temperature, topK, topP, greedy, u, tokens, logprobs);
      return;
    }
    if (B == 0) {
      return;
    }
    Tensor z = dense(logits);
    // a block per row, each keeping its row's probabilities in V doubles of scratch: as many
    // blocks as rows, or as fit in sampleScratchBytes (a block then takes several rows)
    int blocks = (int) Math.max(1, Math.min(Math.min(B, MAX_GRID), sampleScratchBytes / (8L * V)));
    long pBytes = 8L * blocks * V;
    // io: u (B doubles) and active (B ints) in, then logprobs (B doubles, 8-aligned) and tokens
    // (B ints) out: one copy each way
    long ioBytes = 28L * B;
    long p = pool.takeScratch(pBytes);
    long io = pool.takeScratch(ioBytes);
    try {
      ByteBuffer in = ByteBuffer.allocateDirect(12 * B).order(ByteOrder.LITTLE_ENDIAN);
      for (int b = 0; b < B; b++) {
        in.putDouble(u[b]);
      }
      for (int b = 0; b < B; b++) {
        in.putInt(active[b] ? 1 : 0);
      }
      dev.toDevice(io, in.flip());
      long logprobsAt = io + 16L * B;
      dev.launch(args(k("sample_rows", z.dtype())).i32(B).i32(V).f64(temperature).i32(topK)
          .f64(topP).i32(greedy ? 1 : 0).ptr(addr(z)).ptr(io + 8L * B).ptr(io).ptr(p)
          .ptr(logprobsAt + 8L * B).ptr(logprobsAt), blocks, THREADS);
      ByteBuffer out = ByteBuffer.allocateDirect(12 * B).order(ByteOrder.LITTLE_ENDIAN);
      dev.toHost(out, logprobsAt);
      for (int b = 0; b < B; b++) {
        if (active[b]) {
          logprobs[b] = out.getDouble(8 * b);
          tokens[b] = out.getInt(8 * B + 4 * b);
        }
      }
    } finally {
      pool.give(io, ioBytes);
      pool.give(p, pBytes);
    }
  }

  @Override
  public String toString() {
    return description() + ", " + MemoryStats.describe(pool.reserved()) + " of device memory held, "
        + MemoryStats.describe(pool.inUse()) + " in use";
  }
}
