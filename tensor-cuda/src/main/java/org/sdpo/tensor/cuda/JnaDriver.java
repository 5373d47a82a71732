package org.sdpo.tensor.cuda;

import com.sun.jna.Memory;
import com.sun.jna.Native;
import com.sun.jna.NativeLibrary;
import com.sun.jna.Pointer;
import com.sun.jna.ptr.FloatByReference;
import com.sun.jna.ptr.IntByReference;
import com.sun.jna.ptr.LongByReference;
import com.sun.jna.ptr.PointerByReference;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import org.sdpo.tensor.DeviceUnavailableException;

/**
 * The NVIDIA driver API and cuBLAS, bound with JNA direct mapping (no native code of ours to
 * build; see the module's README for why JNA). Uses device 0's primary context (the one cuBLAS
 * and every other library share), one blocking stream, and the kernels' fatbin from the jar.
 * With {@code -Dsdpo.cuda.debug=true} or {@code SDPO_CUDA_DEBUG=1} every launch is followed by a
 * synchronisation and an error check, so an asynchronous fault names the kernel that caused it.
 * With {@code -Dsdpo.cuda.profile=true} or {@code SDPO_CUDA_PROFILE=1} each piece of work is timed
 * alone between two CUDA events and the table of {@link KernelProfile} is printed at exit
 * ({@code SDPO_CUDA_PROFILE=grid}: a row per kernel and grid size).
 */
public final class JnaDriver implements CudaDriver {
  static final String FATBIN = "sdpo_kernels.fatbin";

  /** The driver API entry points (the _v2 symbols that cuda.h's macros name). */
  static final class Cu {
    static native int cuInit(int flags);

    static native int cuDriverGetVersion(IntByReference version);

    static native int cuDeviceGet(IntByReference device, int ordinal);

    static native int cuDeviceGetName(byte[] name, int len, int device);

    static native int cuDeviceTotalMem_v2(LongByReference bytes, int device);

    static native int cuDeviceGetAttribute(IntByReference value, int attribute, int device);

    static native int cuDevicePrimaryCtxRetain(PointerByReference ctx, int device);

    static native int cuCtxSetCurrent(Pointer ctx);

    static native int cuStreamCreate(PointerByReference stream, int flags);

    static native int cuStreamSynchronize(Pointer stream);

    static native int cuMemAlloc_v2(LongByReference address, long bytes);

    static native int cuMemFree_v2(long address);

    static native int cuMemcpyHtoD_v2(long dst, Pointer src, long bytes);

    static native int cuMemcpyDtoH_v2(Pointer dst, long src, long bytes);

    static native int cuMemcpyDtoDAsync_v2(long dst, long src, long bytes, Pointer stream);

    static native int cuMemsetD8Async(long dst, byte value, long count, Pointer stream);

    static native int cuModuleLoadData(PointerByReference module, Pointer image);

    static native int cuModuleGetFunction(PointerByReference function, Pointer module,
        String name);

    static native int cuLaunchKernel(Pointer f, int gx, int gy, int gz, int bx, int by, int bz,
        int sharedBytes, Pointer stream, Pointer params, Pointer extra);

    static native int cuStreamBeginCapture_v2(Pointer stream, int mode);

    static native int cuStreamEndCapture(Pointer stream, PointerByReference graph);

    static native int cuGraphInstantiateWithFlags(PointerByReference exec, Pointer graph,
        long flags);

    static native int cuGraphLaunch(Pointer exec, Pointer stream);

    static native int cuGraphDestroy(Pointer graph);

    static native int cuGraphExecDestroy(Pointer exec);

    static native int cuGetErrorName(int error, PointerByReference name);

    static native int cuEventCreate(PointerByReference event, int flags);

    static native int cuEventRecord(Pointer event, Pointer stream);

    static native int cuEventSynchronize(Pointer event);

    static native int cuEventElapsedTime_v2(FloatByReference ms, Pointer start, Pointer end);
  }

  /** cuBLAS entry points. */
  static final class Cublas {
    static native int cublasCreate_v2(PointerByReference handle);

    static native int cublasSetStream_v2(Pointer handle, Pointer stream);

    static native int cublasSetWorkspace_v2(Pointer handle, long workspace, long bytes);

    static native int cublasGemmStridedBatchedEx(Pointer handle, int transa, int transb, int m,
        int n, int k, Pointer alpha, long a, int aType, int lda, long strideA, long b, int bType,
        int ldb, long strideB, Pointer beta, long c, int cType, int ldc, long strideC, int batch,
        int computeType, int algo);
  }

  /**
   * cuBLASLt entry points, for products with a bias epilogue (cublasLt.h). Handles and
   * descriptors are opaque pointers; device addresses are passed as longs, as elsewhere.
   */
  static final class CublasLt {
    static native int cublasLtCreate(PointerByReference handle);

    static native int cublasLtMatmulDescCreate(PointerByReference desc, int computeType,
        int scaleType);

    static native int cublasLtMatmulDescSetAttribute(Pointer desc, int attribute, Pointer value,
        long bytes);

    static native int cublasLtMatrixLayoutCreate(PointerByReference layout, int type, long rows,
        long cols, long ld);

    static native int cublasLtMatmulDescDestroy(Pointer desc);

    static native int cublasLtMatrixLayoutDestroy(Pointer layout);

    static native int cublasLtMatmulPreferenceCreate(PointerByReference preference);

    static native int cublasLtMatmulPreferenceSetAttribute(Pointer preference, int attribute,
        Pointer value, long bytes);

    static native int cublasLtMatmulPreferenceDestroy(Pointer preference);

    static native int cublasLtMatmulAlgoGetHeuristic(Pointer handle, Pointer desc, Pointer a,
        Pointer b, Pointer c, Pointer d, Pointer preference, int requested, Pointer results,
        IntByReference returned);

    static native int cublasLtMatmul(Pointer handle, Pointer desc, Pointer alpha, long a,
        Pointer aLayout, long b, Pointer bLayout, Pointer beta, long c, Pointer cLayout, long d,
        Pointer dLayout, Pointer algo, long workspace, long workspaceBytes, Pointer stream);
  }

  // cublasLt.h constants (the values of CUDA 12 and 13, which kept them)
  private static final int CUBLASLT_MATMUL_DESC_TRANSA = 3;
  private static final int CUBLASLT_MATMUL_DESC_TRANSB = 4;
  private static final int CUBLASLT_MATMUL_DESC_EPILOGUE = 7;
  private static final int CUBLASLT_MATMUL_DESC_BIAS_POINTER = 8;
  private static final int CUBLASLT_EPILOGUE_BIAS = 4;
  private static final int CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES = 1;
  private static final int CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES = 5; // B, C, D: 6, 7, 8
  private static final int CUBLAS_STATUS_NOT_SUPPORTED = 15;
  // sizeof(cublasLtMatmulHeuristicResult_t): algo (64 bytes), workspaceSize, state, wavesCount,
  // 4 ints
  private static final int HEURISTIC_RESULT_BYTES = 96;
  private static final int HEURISTIC_STATE_OFFSET = 72;

  // cuda.h and cublas_api.h / library_types.h constants
  private static final int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75;
  private static final int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76;
  private static final int CU_STREAM_CAPTURE_MODE_RELAXED = 2;
  private static final int CUDA_ERROR_OUT_OF_MEMORY = 2; // cuda.h's CUresult
  private static final int CUDA_R_32F = 0;
  private static final int CUDA_R_64F = 1;
  private static final int CUDA_R_16BF = 14;
  private static final int CUBLAS_COMPUTE_32F = 68;
  private static final int CUBLAS_COMPUTE_32F_FAST_TF32 = 77;
  private static final int CUBLAS_COMPUTE_64F = 70;
  private static final int CUBLAS_GEMM_DEFAULT = -1;

  private final Pointer context;
  private final Pointer stream;
  private final Pointer module;
  private final Pointer cublas;
  /** cuBLASLt's handle, or null where it could not be bound or started ({@link #ltMissing}). */
  private final Pointer cublasLt;
  /** Why cuBLASLt is not used, or null when it is. */
  private final String ltMissing;
  private final long workspace; // cuBLAS's workspace, shared with cuBLASLt (one stream)
  private final long workspaceBytes;
  /** Each product shape's cuBLASLt descriptors and chosen kernel; {@link LtPlan#NONE} if none. */
  private final Map<LtKey, LtPlan> ltPlans = new HashMap<>();
  private final Memory ltScalars = new Memory(8); // alpha 1, beta 0 (float32 scale type)
  private final Memory ltValue = new Memory(8); // one attribute's value on its way in
  private final String description;
  private final boolean debug;
  private final KernelProfile profile; // null unless profiling
  private final Pointer[] events = new Pointer[2]; // start and end of a profiled piece of work
  private final FloatByReference elapsed = new FloatByReference();
  private final Map<String, Pointer> functions = new HashMap<>();
  private final Memory scalars = new Memory(16);
  // one launch's parameter buffer and the cuLaunchKernel "extra" array that points at it: the
  // driver copies the parameters during the call, so one set serves every launch
  private final Memory params = new Memory(4096);
  private final Memory paramsSize = new Memory(8);
  private final Memory extra = new Memory(5L * Native.POINTER_SIZE);
  private final ThreadLocal<Boolean> current = ThreadLocal.withInitial(() -> false);
  private long launches;
  private long captureStart;
  private boolean capturing;

  private final int computeCapability;
  /** The device's memory in bytes (cuDeviceTotalMem), 0 if the driver did not say. */
  private final long totalMemory;

  @Override
  public int computeCapability() {
    return computeCapability;
  }

  private JnaDriver(Pointer context, Pointer stream, Pointer module, Pointer cublas,
      Pointer cublasLt, String ltMissing, long workspace, long workspaceBytes,
      String description, boolean debug, KernelProfile profile, int computeCapability,
      long totalMemory) {
    this.cublasLt = cublasLt;
    this.ltMissing = ltMissing;
    this.workspace = workspace;
    this.workspaceBytes = workspaceBytes;
    ltScalars.setFloat(0, 1f);
    ltScalars.setFloat(4, 0f);
    this.computeCapability = computeCapability;
    this.totalMemory = totalMemory;
    this.context = context;
    this.stream = stream;
    this.module = module;
    this.cublas = cublas;
    this.description = description;
    this.debug = debug;
    this.profile = profile;
    if (profile != null) {
      for (int i = 0; i < events.length; i++) {
        PointerByReference e = new PointerByReference();
        check(Cu.cuEventCreate(e, 0), "cuEventCreate");
        events[i] = e.getValue();
      }
    }
    extra.setPointer(0, new Pointer(1)); // CU_LAUNCH_PARAM_BUFFER_POINTER
    extra.setPointer(Native.POINTER_SIZE, params);
    extra.setPointer(2L * Native.POINTER_SIZE, new Pointer(2)); // CU_LAUNCH_PARAM_BUFFER_SIZE
    extra.setPointer(3L * Native.POINTER_SIZE, paramsSize);
    extra.setPointer(4L * Native.POINTER_SIZE, null); // CU_LAUNCH_PARAM_END
    current.set(true); // the opening thread made the context current
  }

  /** The context is current per thread: make it so on a thread's first call. */
  private void onThisThread() {
    if (!current.get()) {
      check(Cu.cuCtxSetCurrent(context), "cuCtxSetCurrent");
      current.set(true);
    }
  }

  /** Binds the libraries, starts device 0 and loads the kernels; one clear message if not. */
  public static JnaDriver open() {
    try {
      return start();
    } catch (DeviceUnavailableException e) {
      throw e;
    } catch (IllegalStateException | UnsatisfiedLinkError e) {
      throw new DeviceUnavailableException("--device cuda: " + e.getMessage());
    }
  }

  /** The libraries, bound once per JVM (several drivers may be opened: the GPU check does). */
  private static String bound;
  /** Why cuBLASLt's functions could not be bound, or null. */
  private static String ltBindError;

  private static synchronized String bind() {
    if (bound == null) {
      Path libcuda = CudaLibraries.find("the NVIDIA driver (libcuda.so.1)", "libcuda.so.1",
          "libcuda.so");
      Path libcublasLt = CudaLibraries.find("cuBLASLt (libcublasLt.so.13)", "libcublasLt.so.13");
      Path libcublas = CudaLibraries.find("cuBLAS (libcublas.so.13)", "libcublas.so.13");
      Native.register(Cu.class, NativeLibrary.getInstance(libcuda.toString()));
      NativeLibrary lt = NativeLibrary.getInstance(libcublasLt.toString()); // libcublas needs it
      Native.register(Cublas.class, NativeLibrary.getInstance(libcublas.toString()));
      try {
        Native.register(CublasLt.class, lt);
      } catch (UnsatisfiedLinkError e) {
        ltBindError = "cuBLASLt's entry points not found (" + e.getMessage() + ")";
      }
      bound = libcuda + ", " + libcublas + ", " + libcublasLt;
    }
    return bound;
  }

  private static JnaDriver start() {
    String libraries = bind();
    check(Cu.cuInit(0), "cuInit");
    IntByReference v = new IntByReference();
    check(Cu.cuDriverGetVersion(v), "cuDriverGetVersion");
    IntByReference dev = new IntByReference();
    check(Cu.cuDeviceGet(dev, 0), "cuDeviceGet");
    IntByReference major = new IntByReference();
    IntByReference minor = new IntByReference();
    check(Cu.cuDeviceGetAttribute(major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR,
        dev.getValue()), "cuDeviceGetAttribute");
    check(Cu.cuDeviceGetAttribute(minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR,
        dev.getValue()), "cuDeviceGetAttribute");
    int cc = major.getValue() * 10 + minor.getValue();
    if (cc < 75) {
      throw new DeviceUnavailableException("--device cuda: compute capability " + major.getValue()
          + "." + minor.getValue() + " is not supported (7.5 and newer: CUDA 13's range)");
    }
    byte[] name = new byte[256];
    check(Cu.cuDeviceGetName(name, name.length, dev.getValue()), "cuDeviceGetName");
    LongByReference total = new LongByReference();
    long totalMemory = Cu.cuDeviceTotalMem_v2(total, dev.getValue()) == 0 ? total.getValue() : 0;
    PointerByReference ctx = new PointerByReference();
    check(Cu.cuDevicePrimaryCtxRetain(ctx, dev.getValue()), "cuDevicePrimaryCtxRetain");
    check(Cu.cuCtxSetCurrent(ctx.getValue()), "cuCtxSetCurrent");
    PointerByReference s = new PointerByReference();
    check(Cu.cuStreamCreate(s, 0), "cuStreamCreate");
    byte[] fatbin = fatbin();
    Memory image = new Memory(fatbin.length);
    image.write(0, fatbin, 0, fatbin.length);
    PointerByReference mod = new PointerByReference();
    check(Cu.cuModuleLoadData(mod, image), "cuModuleLoadData (" + FATBIN + ")");
    PointerByReference handle = new PointerByReference();
    checkBlas(Cublas.cublasCreate_v2(handle), "cublasCreate");
    checkBlas(Cublas.cublasSetStream_v2(handle.getValue(), s.getValue()), "cublasSetStream");
    long workspace = workspaceBytes();
    long workspaceAt = 0;
    if (workspace > 0) { // set after the stream: cublasSetStream resets it
      LongByReference w = new LongByReference();
      check(Cu.cuMemAlloc_v2(w, workspace), "cuMemAlloc of cuBLAS's workspace (" + workspace
          + " bytes)");
      workspaceAt = w.getValue();
      checkBlas(Cublas.cublasSetWorkspace_v2(handle.getValue(), workspaceAt, workspace),
          "cublasSetWorkspace");
    }
    Pointer lt = null;
    String ltMissing = ltBindError;
    if (ltMissing == null) {
      PointerByReference h = new PointerByReference();
      int status = CublasLt.cublasLtCreate(h);
      if (status == 0) {
        lt = h.getValue();
      } else {
        ltMissing = "cublasLtCreate failed: status " + status;
      }
    }
    String text = Native.toString(name) + ", compute capability " + major.getValue() + "."
        + minor.getValue() + ", driver CUDA " + v.getValue() / 1000 + "."
        + (v.getValue() % 1000) / 10 + ", " + libraries;
    boolean debug = Boolean.getBoolean("sdpo.cuda.debug")
        || "1".equals(System.getenv("SDPO_CUDA_DEBUG"));
    return new JnaDriver(ctx.getValue(), s.getValue(), mod.getValue(), handle.getValue(), lt,
        ltMissing, workspaceAt, workspace, text, debug, KernelProfile.fromEnvironment(), cc,
        totalMemory);
  }

  /**
   * cuBLAS's workspace: 32 MiB (what NVIDIA advises for Hopper), or {@code SDPO_CUDA_WORKSPACE_MB}
   * / {@code -Dsdpo.cuda.workspace.mb}; 0 leaves cuBLAS its own default.
   */
  static long workspaceBytes() {
    String v = System.getProperty("sdpo.cuda.workspace.mb", System.getenv("SDPO_CUDA_WORKSPACE_MB"));
    long mb = 32;
    if (v != null && !v.isBlank()) {
      try {
        mb = Long.parseLong(v.trim());
      } catch (NumberFormatException e) {
        throw new DeviceUnavailableException("--device cuda: SDPO_CUDA_WORKSPACE_MB is '" + v
            + "', not a number of MiB");
      }
    }
    return Math.max(0, mb) << 20;
  }

  static byte[] fatbin() {
    try (InputStream in = JnaDriver.class.getResourceAsStream(FATBIN)) {
      if (in == null) {
        throw new DeviceUnavailableException("--device cuda: this build has no kernels (" + FATBIN
            + " is built only where nvcc was found; see tensor-cuda/README.md)");
      }
      return in.readAllBytes();
    } catch (IOException e) {
      throw new DeviceUnavailableException("--device cuda: cannot read " + FATBIN + ": " + e);
    }
  }

  static void check(int result, String call) {
    if (result != 0) {
      PointerByReference name = new PointerByReference();
      String n = Cu.cuGetErrorName(result, name) == 0 && name.getValue() != null
          ? name.getValue().getString(0) : "error " + result;
      throw new IllegalStateException("CUDA: " + call + " failed: " + n);
    }
  }

  static void checkBlas(int status, String call) {
    if (status != 0) {
      throw new IllegalStateException("cuBLAS: " + call + " failed: status " + status);
    }
  }

  /** Starts timing a piece of work, when profiling and not recording; see {@link #timed}. */
  private boolean timing() {
    if (profile == null || capturing) {
      return false;
    }
    check(Cu.cuEventRecord(events[0], stream), "cuEventRecord");
    return true;
  }

  /** Ends timing the work issued since {@link #timing} returned true: waits for it, adds it. */
  private void timed(boolean timing, String name) {
    if (timing) {
      check(Cu.cuEventRecord(events[1], stream), "cuEventRecord");
      check(Cu.cuEventSynchronize(events[1]), "cuEventSynchronize after " + name);
      check(Cu.cuEventElapsedTime_v2(elapsed, events[0], events[1]), "cuEventElapsedTime");
      profile.add(name, elapsed.getValue());
    }
  }

  private void after(String what) {
    launches++;
    if (debug && !capturing) {
      check(Cu.cuStreamSynchronize(stream), "after " + what);
    }
  }

  @Override
  public boolean checksLaunches() {
    return debug;
  }

  @Override
  public long totalMemory() {
    return totalMemory;
  }

  @Override
  public String description() {
    return description + (ltMissing != null ? " (no bias epilogue: " + ltMissing + ")" : "")
        + (debug ? " (debug: synchronised after every launch)" : "")
        + (profile != null ? " (profiling: every launch timed alone)" : "");
  }

  @Override
  public synchronized long alloc(long bytes) {
    onThisThread();
    LongByReference p = new LongByReference();
    int result = Cu.cuMemAlloc_v2(p, bytes);
    if (result == CUDA_ERROR_OUT_OF_MEMORY) {
      throw new org.sdpo.tensor.DeviceOutOfMemoryException("CUDA: cuMemAlloc of " + bytes
          + " bytes: CUDA_ERROR_OUT_OF_MEMORY");
    }
    check(result, "cuMemAlloc of " + bytes + " bytes");
    return p.getValue();
  }

  @Override
  public synchronized void free(long address) {
    onThisThread();
    check(Cu.cuMemFree_v2(address), "cuMemFree");
  }

  @Override
  public synchronized void toDevice(long dst, ByteBuffer src) {
    onThisThread();
    ByteBuffer direct = direct(src);
    check(Cu.cuStreamSynchronize(stream), "cuStreamSynchronize");
    check(Cu.cuMemcpyHtoD_v2(dst, Native.getDirectBufferPointer(direct), direct.remaining()),
        "cuMemcpyHtoD");
  }

  @Override
  public synchronized void toHost(ByteBuffer dst, long src) {
    onThisThread();
    check(Cu.cuStreamSynchronize(stream), "cuStreamSynchronize");
    if (dst.isDirect()) {
      Pointer p = Native.getDirectBufferPointer(dst).share(dst.position());
      check(Cu.cuMemcpyDtoH_v2(p, src, dst.remaining()), "cuMemcpyDtoH");
    } else {
      ByteBuffer tmp = ByteBuffer.allocateDirect(dst.remaining());
      check(Cu.cuMemcpyDtoH_v2(Native.getDirectBufferPointer(tmp), src, tmp.capacity()),
          "cuMemcpyDtoH");
      dst.put(dst.position(), tmp, 0, tmp.capacity());
    }
  }

  private static ByteBuffer direct(ByteBuffer src) {
    if (src.isDirect() && src.position() == 0) {
      return src;
    }
    ByteBuffer d = ByteBuffer.allocateDirect(src.remaining());
    d.put(0, src, src.position(), src.remaining());
    return d;
  }

  @Override
  public synchronized void copy(long dst, long src, long bytes) {
    onThisThread();
    boolean t = timing();
    check(Cu.cuMemcpyDtoDAsync_v2(dst, src, bytes, stream), "cuMemcpyDtoDAsync");
    timed(t, "device-to-device copy");
    after("a device-to-device copy");
  }

  @Override
  public synchronized void zero(long dst, long bytes) {
    onThisThread();
    boolean t = timing();
    check(Cu.cuMemsetD8Async(dst, (byte) 0, bytes, stream), "cuMemsetD8Async");
    timed(t, "memset");
    after("a memset");
  }

  private Pointer function(String name) {
    return functions.computeIfAbsent(name, n -> {
      PointerByReference f = new PointerByReference();
      check(Cu.cuModuleGetFunction(f, module, n), "cuModuleGetFunction(" + n + ")");
      return f.getValue();
    });
  }

  @Override
  public synchronized void launch(KernelArgs args, int grid, int block) {
    onThisThread();
    ByteBuffer packed = args.packed();
    int size = packed.remaining();
    byte[] bytes = new byte[size];
    packed.get(bytes);
    params.write(0, bytes, 0, size);
    paramsSize.setLong(0, size);
    boolean t = timing();
    check(Cu.cuLaunchKernel(function(args.kernel()), grid, 1, 1, block, 1, 1, 0, stream, null,
        extra), "cuLaunchKernel(" + args.kernel() + ")");
    if (t) {
      timed(true, profile.launchName(args.kernel(), grid));
    }
    after(args.kernel());
  }

  @Override
  public synchronized void gemm(GemmType type, boolean transA, boolean transB, int m, int n, int k,
      double alpha, long a, int lda, long strideA, long b, int ldb, long strideB, double beta,
      long c, int ldc, long strideC, int batch) {
    onThisThread();
    int dt = type == GemmType.F64 ? CUDA_R_64F : CUDA_R_32F; // C's type
    int abType = type == GemmType.BF16 ? CUDA_R_16BF : dt;
    int compute = type == GemmType.F64 ? CUBLAS_COMPUTE_64F
        : type == GemmType.TF32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
    if (type == GemmType.F64) {
      scalars.setDouble(0, alpha);
      scalars.setDouble(8, beta);
    } else {
      scalars.setFloat(0, (float) alpha);
      scalars.setFloat(8, (float) beta);
    }
    boolean t = timing();
    checkBlas(Cublas.cublasGemmStridedBatchedEx(cublas, transA ? 1 : 0, transB ? 1 : 0, m, n, k,
        scalars, a, abType, lda, strideA, b, abType, ldb, strideB, scalars.share(8), c, dt, ldc,
        strideC, batch, compute, CUBLAS_GEMM_DEFAULT), "cublasGemmStridedBatchedEx");
    if (t) {
      timed(true, KernelProfile.gemmName(type, transA, transB, m, n, k, batch));
    }
    after("cublasGemmStridedBatchedEx");
  }

  /** What decides a cuBLASLt plan: the product's types, shape, layouts and pointer alignments. */
  private record LtKey(GemmType type, boolean transA, boolean transB, int m, int n, int k, int lda,
      int ldb, int ldc, int alignA, int alignB, int alignC) {}

  /** A product's descriptors and the kernel cuBLASLt's heuristic chose for it. */
  private record LtPlan(Pointer desc, Pointer a, Pointer b, Pointer c, Memory algo) {
    static final LtPlan NONE = new LtPlan(null, null, null, null, null);
  }

  /** The largest power of two up to 256 that divides {@code address}: what cuBLASLt may assume. */
  static int alignment(long address) {
    return (int) Math.min(256, Long.lowestOneBit(address | 256));
  }

  @Override
  public synchronized boolean gemmBias(GemmType type, boolean transA, boolean transB, int m,
      int n, int k, long a, int lda, long b, int ldb, long bias, long c, int ldc) {
    if (cublasLt == null || type == GemmType.F64 || bias % 16 != 0) {
      return false; // a bias vector off 16 bytes is one no epilogue kernel may read
    }
    onThisThread();
    LtKey key = new LtKey(type, transA, transB, m, n, k, lda, ldb, ldc, alignment(a),
        alignment(b), alignment(c));
    LtPlan plan = ltPlans.computeIfAbsent(key, this::ltPlan);
    if (plan == LtPlan.NONE) {
      return false;
    }
    ltValue.setLong(0, bias);
    checkBlas(CublasLt.cublasLtMatmulDescSetAttribute(plan.desc(),
        CUBLASLT_MATMUL_DESC_BIAS_POINTER, ltValue, 8), "cublasLtMatmulDescSetAttribute(bias)");
    boolean t = timing();
    int status = CublasLt.cublasLtMatmul(cublasLt, plan.desc(), ltScalars, a, plan.a(), b,
        plan.b(), ltScalars.share(4), c, plan.c(), c, plan.c(), plan.algo(), workspace,
        workspaceBytes, stream);
    if (status == CUBLAS_STATUS_NOT_SUPPORTED) { // refused before any work: remember, fall back
      ltPlans.put(key, LtPlan.NONE);
      ltDestroy(plan.desc(), plan.a(), plan.b(), plan.c());
      return false;
    }
    checkBlas(status, "cublasLtMatmul");
    if (t) {
      timed(true, KernelProfile.gemmBiasName(type, transA, transB, m, n, k));
    }
    after("cublasLtMatmul");
    return true;
  }

  /**
   * Descriptors for one product shape with the bias epilogue, and cuBLASLt's first choice of
   * kernel for them within the workspace and the pointers' alignments; NONE if it has none.
   */
  private LtPlan ltPlan(LtKey key) {
    int abType = key.type() == GemmType.BF16 ? CUDA_R_16BF : CUDA_R_32F;
    int compute = key.type() == GemmType.TF32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
    PointerByReference ref = new PointerByReference();
    checkBlas(CublasLt.cublasLtMatmulDescCreate(ref, compute, CUDA_R_32F),
        "cublasLtMatmulDescCreate");
    Pointer desc = ref.getValue();
    ltDescAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, key.transA() ? 1 : 0);
    ltDescAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSB, key.transB() ? 1 : 0);
    ltDescAttribute(desc, CUBLASLT_MATMUL_DESC_EPILOGUE, CUBLASLT_EPILOGUE_BIAS);
    // column-major layouts as stored: A is m x k (k x m when transposed), B k x n (n x k)
    Pointer la = ltLayout(abType, key.transA() ? key.k() : key.m(),
        key.transA() ? key.m() : key.k(), key.lda());
    Pointer lb = ltLayout(abType, key.transB() ? key.n() : key.k(),
        key.transB() ? key.k() : key.n(), key.ldb());
    Pointer lc = ltLayout(CUDA_R_32F, key.m(), key.n(), key.ldc());
    checkBlas(CublasLt.cublasLtMatmulPreferenceCreate(ref), "cublasLtMatmulPreferenceCreate");
    Pointer pref = ref.getValue();
    Memory result = new Memory(HEURISTIC_RESULT_BYTES);
    result.clear();
    IntByReference found = new IntByReference();
    int status;
    try {
      ltValue.setLong(0, workspaceBytes);
      checkBlas(CublasLt.cublasLtMatmulPreferenceSetAttribute(pref,
          CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, ltValue, 8),
          "cublasLtMatmulPreferenceSetAttribute");
      int[] aligns = {key.alignA(), key.alignB(), key.alignC(), key.alignC()}; // A, B, C, D
      for (int i = 0; i < aligns.length; i++) {
        ltValue.setInt(0, aligns[i]);
        checkBlas(CublasLt.cublasLtMatmulPreferenceSetAttribute(pref,
            CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES + i, ltValue, 4),
            "cublasLtMatmulPreferenceSetAttribute");
      }
      status = CublasLt.cublasLtMatmulAlgoGetHeuristic(cublasLt, desc, la, lb, lc, lc, pref, 1,
          result, found);
    } finally {
      CublasLt.cublasLtMatmulPreferenceDestroy(pref); // read by the heuristic only
    }
    if (status != 0 || found.getValue() < 1 || result.getInt(HEURISTIC_STATE_OFFSET) != 0) {
      ltDestroy(desc, la, lb, lc);
      return LtPlan.NONE;
    }
    return new LtPlan(desc, la, lb, lc, result); // the algo is the result's first 64 bytes
  }

  /** Frees a refused shape's descriptors (nothing reads them again: its key maps to NONE). */
  private static void ltDestroy(Pointer desc, Pointer... layouts) {
    for (Pointer l : layouts) {
      CublasLt.cublasLtMatrixLayoutDestroy(l);
    }
    CublasLt.cublasLtMatmulDescDestroy(desc);
  }

  private void ltDescAttribute(Pointer desc, int attribute, int value) {
    ltValue.setInt(0, value);
    checkBlas(CublasLt.cublasLtMatmulDescSetAttribute(desc, attribute, ltValue, 4),
        "cublasLtMatmulDescSetAttribute(" + attribute + ")");
  }

  private static Pointer ltLayout(int type, int rows, int cols, int ld) {
    PointerByReference ref = new PointerByReference();
    checkBlas(CublasLt.cublasLtMatrixLayoutCreate(ref, type, rows, cols, ld),
        "cublasLtMatrixLayoutCreate");
    return ref.getValue();
  }

  @Override
  public synchronized void synchronize() {
    onThisThread();
    check(Cu.cuStreamSynchronize(stream), "cuStreamSynchronize");
  }

  @Override
  public synchronized void beginCapture() {
    onThisThread();
    // relaxed: the memory pool may call cuMemAlloc while a step is recorded (a new chunk), which
    // the global and thread-local modes refuse
    check(Cu.cuStreamBeginCapture_v2(stream, CU_STREAM_CAPTURE_MODE_RELAXED),
        "cuStreamBeginCapture");
    capturing = true;
    captureStart = launches;
  }

  @Override
  public synchronized Graph endCapture() {
    onThisThread();
    capturing = false;
    PointerByReference graph = new PointerByReference();
    check(Cu.cuStreamEndCapture(stream, graph), "cuStreamEndCapture");
    PointerByReference exec = new PointerByReference();
    try {
      check(Cu.cuGraphInstantiateWithFlags(exec, graph.getValue(), 0), "cuGraphInstantiate");
    } finally {
      check(Cu.cuGraphDestroy(graph.getValue()), "cuGraphDestroy"); // the executable stays
    }
    return new CuGraph(exec.getValue(), (int) (launches - captureStart));
  }

  @Override
  public synchronized void destroy(Graph g) {
    onThisThread();
    check(Cu.cuGraphExecDestroy(((CuGraph) g).exec()), "cuGraphExecDestroy");
  }

  private record CuGraph(Pointer exec, int launches) implements Graph {}

  @Override
  public synchronized void replay(Graph g) {
    onThisThread();
    boolean t = timing();
    check(Cu.cuGraphLaunch(((CuGraph) g).exec(), stream), "cuGraphLaunch");
    timed(t, "graph replay (" + g.launches() + " launches)");
    after("a graph");
  }

  @Override
  public long launches() {
    return launches;
  }

  @Override
  public void close() {
    synchronize();
  }
}
