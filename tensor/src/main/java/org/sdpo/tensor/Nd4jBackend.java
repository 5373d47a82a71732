package org.sdpo.tensor;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.OpContext;
import org.nd4j.linalg.api.ops.impl.reduce.Mmul;
import org.nd4j.linalg.api.ops.impl.reduce.floating.Mean;
import org.nd4j.linalg.api.ops.impl.reduce.same.Max;
import org.nd4j.linalg.api.ops.impl.reduce.same.Sum;
import org.nd4j.linalg.api.ops.impl.transforms.pairwise.arithmetic.AddOp;
import org.nd4j.linalg.api.ops.impl.transforms.pairwise.arithmetic.DivOp;
import org.nd4j.linalg.api.ops.impl.transforms.pairwise.arithmetic.MulOp;
import org.nd4j.linalg.api.ops.impl.transforms.pairwise.arithmetic.SubOp;
import org.nd4j.linalg.api.ops.impl.transforms.strict.Exp;
import org.nd4j.linalg.api.ops.impl.transforms.strict.Log;
import org.nd4j.linalg.api.ops.impl.transforms.strict.Sigmoid;
import org.nd4j.linalg.api.ops.impl.transforms.strict.Tanh;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.INDArrayIndex;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * The ND4J implementation of {@link Backend}, for its CPU backend (OpenBLAS) and its CUDA
 * backend alike: only {@code INDArray}/{@code Nd4j} calls, no backend-specific classes.
 *
 * <p>Which kernel runs where: matrix products (OpenBLAS) and copies are ND4J calls into
 * preallocated outputs, and so are broadcasts and reductions of unusual shapes. Elementwise math,
 * the common broadcasts (same shape, bias rows, per-row columns, scalars), reductions over
 * leading or trailing axes and softmax run as {@link JavaKernels} loops over the native memory:
 * measured here, those are as fast or faster than ND4J's kernels and cost nothing per call.
 */
public final class Nd4jBackend implements Backend {

  /**
   * ND4J's array behind a tensor, with the views made of it so far. Creating an ND4J view costs
   * two native allocations (its shape information); pooled storage is reused from step to step
   * and asked for the same views each time, so each view is made once and then served from here.
   */
  static final class Nd4jStorage implements Storage {
    private final INDArray array;
    private java.util.Map<String, Nd4jStorage> views;

    Nd4jStorage(INDArray array) {
      this.array = array;
    }

    INDArray array() {
      return array;
    }

    Nd4jStorage view(String key, java.util.function.Supplier<INDArray> make) {
      if (views == null) {
        views = new java.util.HashMap<>();
      }
      Nd4jStorage v = views.get(key);
      if (v == null) {
        v = new Nd4jStorage(make.get());
        views.put(key, v);
      }
      return v;
    }
  }

  private static Nd4jStorage st(Tensor t) {
    return (Nd4jStorage) t.storage();
  }

  static INDArray arr(Tensor t) {
    return ((Nd4jStorage) t.storage()).array();
  }

  private static DataType type(DType d) {
    return d == DType.FLOAT32 ? DataType.FLOAT : DataType.DOUBLE;
  }

  private static Storage wrap(INDArray a) {
    return new Nd4jStorage(a);
  }

  @Override
  public String description() {
    String name = Nd4j.getBackend().getClass().getSimpleName();
    String blas = "";
    try {
      blas = ", BLAS " + Nd4j.factory().blas().getBlasVendor() + " on "
          + threads(CblasGemm.threads()); // results depend on this count (CblasGemm#threads)
    } catch (RuntimeException | LinkageError e) {
      // not every backend reports a vendor
    }
    return "ND4J " + name + ", " + threads(Nd4j.getEnvironment().maxThreads()) + blas;
  }

  private static String threads(int n) {
    return n + (n == 1 ? " thread" : " threads");
  }

  @Override
  public Storage allocate(DType dtype, int[] shape) {
    MemoryStats.count(dtype, shape);
    return wrap(uninitialized(dtype, shape));
  }

  /**
   * A new row-major array. Where the system refuses its memory, a collection first frees the
   * buffers of unreachable tensors (ND4J's deallocator threads free them after the collector
   * finds them; the heap holds only their small Java objects, so it may not have run), then
   * one retry; a second refusal is a {@link HostOutOfMemoryException} naming the tensor.
   */
  private static INDArray uninitialized(DType dtype, int[] shape) {
    for (int attempt = 0; ; attempt++) {
      try {
        return Nd4j.createUninitialized(type(dtype), Shape.toLong(shape), 'c');
      } catch (RuntimeException | OutOfMemoryError e) {
        if (!isAllocationFailure(e)) {
          throw e;
        }
        if (attempt > 0) {
          throw new HostOutOfMemoryException(outOfMemory(dtype, shape));
        }
        System.gc();
        try {
          Thread.sleep(500); // time for ND4J's deallocator threads to free what was collected
        } catch (InterruptedException ie) {
          Thread.currentThread().interrupt();
          throw new HostOutOfMemoryException(outOfMemory(dtype, shape));
        }
      }
    }
  }

  /**
   * ND4J's native allocator reports a refused {@code malloc} as a RuntimeException ("Allocation
   * failed: [std::bad_alloc]"); JavaCPP, past its {@code maxBytes}, as an OutOfMemoryError.
   */
  static boolean isAllocationFailure(Throwable e) {
    if (e instanceof OutOfMemoryError) {
      return true;
    }
    String m = e.getMessage();
    return m != null && (m.contains("bad_alloc") || m.contains("Allocation failed"));
  }

  /** "out of memory: no room for a float32 tensor [82176, 50257] (16.52 GB); this process ...". */
  static String outOfMemory(DType dtype, int[] shape) {
    return "out of memory: no room for a " + dtype.name().toLowerCase(java.util.Locale.ROOT)
        + " tensor " + java.util.Arrays.toString(shape) + " ("
        + MemoryStats.describe(Shape.numel(shape) * dtype.bytes()) + "); this process holds "
        + MemoryStats.describe(MemoryStats.residentBytes()) + " of the machine's "
        + MemoryStats.describe(MemoryStats.machineBytes("MemTotal:")) + " ("
        + MemoryStats.describe(MemoryStats.machineBytes("MemAvailable:")) + " available)"
        + MemoryStats.processLimits();
  }

  @Override
  public Storage fromDoubles(double[] data, DType dtype, int[] shape) {
    MemoryStats.count(dtype, shape);
    INDArray a = uninitialized(dtype, shape);
    Buf b = bufferOf(a, dtype);
    for (int i = 0; i < data.length; i++) {
      b.set(i, data[i]);
    }
    return wrap(a);
  }

  @Override
  public Storage fromFloats(float[] data, DType dtype, int[] shape) {
    MemoryStats.count(dtype, shape);
    INDArray a = uninitialized(dtype, shape);
    Buf b = bufferOf(a, dtype);
    for (int i = 0; i < data.length; i++) {
      b.set(i, data[i]);
    }
    return wrap(a);
  }

  @Override
  public double[] toDoubles(Tensor t) {
    try {
      Buf b = buffer(t.contiguous());
      double[] d = new double[b.size()];
      for (int i = 0; i < d.length; i++) {
        d[i] = b.get(i);
      }
      return d;
    } finally {
      keep(t);
    }
  }

  @Override
  public float[] toFloats(Tensor t) {
    try {
      Buf b = buffer(t.contiguous());
      float[] d = new float[b.size()];
      for (int i = 0; i < d.length; i++) {
        d[i] = (float) b.get(i);
      }
      return d;
    } finally {
      keep(t);
    }
  }

  @Override
  public double get(Tensor t, long flatIndex) {
    try {
      if (isContiguous(t)) {
        return buffer(t).get((int) flatIndex);
      }
      // a view: the row-major index of its own shape, as indices (ND4J's linear index of a
      // permuted view follows the storage order, not the view's)
      int[] s = t.shape();
      long[] idx = new long[s.length];
      long f = flatIndex;
      for (int i = s.length - 1; i >= 0; i--) {
        idx[i] = f % s[i];
        f /= s[i];
      }
      return arr(t).getDouble(idx);
    } finally {
      keep(t);
    }
  }

  @Override
  public void set(Tensor t, long flatIndex, double value) {
    try {
      if (!isContiguous(t)) {
        throw new IllegalArgumentException("set: tensor view is not contiguous");
      }
      buffer(t).set((int) flatIndex, value);
    } finally {
      keep(t);
    }
  }

  @Override
  public void write(Tensor t, int start, double[] src, int count) {
    try {
      Buf b = buffer(t);
      for (int i = 0; i < count; i++) {
        b.set(start + i, src[i]);
      }
    } finally {
      keep(t);
    }
  }

  @Override
  public void read(Tensor t, int start, double[] dst, int count) {
    try {
      Buf b = buffer(t);
      for (int i = 0; i < count; i++) {
        dst[i] = b.get(start + i);
      }
    } finally {
      keep(t);
    }
  }

  // ------------------------------------------------------------------ keeping tensors alive
  //
  // A host view of a tensor (buffer, whole) is an NIO buffer over the native memory of its
  // ND4J array, and it does not keep the array reachable. Once a method has taken its views, the
  // JIT may treat its tensor parameters as dead, and a tensor the caller made in the argument list
  // is referenced nowhere else: a garbage collection then lets ND4J free the memory while a
  // kernel still reads or writes it (seen: a conformance case failing under collections, a
  // gradient read from freed memory). Every method that works through views ends with keep() on
  // its tensors, in a finally block, as Reference.reachabilityFence's documentation prescribes.

  private static void keep(Object a) {
    java.lang.ref.Reference.reachabilityFence(a);
  }

  private static void keep(Object a, Object b) {
    java.lang.ref.Reference.reachabilityFence(a);
    java.lang.ref.Reference.reachabilityFence(b);
  }

  private static void keep(Object a, Object b, Object c) {
    keep(a, b);
    java.lang.ref.Reference.reachabilityFence(c);
  }

  private static void keep(Object a, Object b, Object c, Object d) {
    keep(a, b);
    keep(c, d);
  }

  private static void keep(Object a, Object b, Object c, Object d, Object e) {
    keep(a, b, c);
    keep(d, e);
  }

  private static void keep(Object a, Object b, Object c, Object d, Object e, Object f) {
    keep(a, b, c);
    keep(d, e, f);
  }

  private static void keep(Object a, Object b, Object c, Object d, Object e, Object f,
      Object g, Object h) {
    keep(a, b, c, d);
    keep(e, f, g, h);
  }

  @Override
  public Buf buffer(Tensor t) {
    if (!isContiguous(t)) {
      throw new IllegalStateException("buffer: tensor " + Shape.str(t.shape()) + " is a strided view");
    }
    return bufferOf(arr(t), t.dtype());
  }

  /**
   * Copies between views below this many elements run in Java: measured at the tiny shape, the
   * decode step's (2,048 elements) 11-25% faster sampling; the training step's (131,072) 10-15%
   * slower than ND4J's native copy.
   */
  static final int SMALL_COPY = 1 << 14;

  /**
   * The same for float32 copies whose rows are contiguous on both sides (a block copy per row,
   * {@link JavaKernels#copiesRows}): the decode step's QKV slices and KV cache writes at the demo's
   * shape (16,384 elements) sample 7-13% faster in Java than in ND4J.
   */
  static final int SMALL_ROW_COPY = 1 << 16;

  /**
   * All of a's underlying buffer, from its element 0 (a view's offset indexes into it). A view's
   * {@code data()} counts only the view's own length; its NIO buffer spans the whole.
   */
  private static Buf whole(INDArray a, DType dtype) {
    if (dtype == DType.FLOAT32) {
      java.nio.FloatBuffer b = a.data().asNioFloat();
      return Buf.of(b, 0, b.limit());
    }
    java.nio.DoubleBuffer b = a.data().asNioDouble();
    return Buf.of(b, 0, b.limit());
  }

  private static Buf bufferOf(INDArray a, DType dtype) {
    return bufferOf(a, dtype, (int) a.length());
  }

  /** The n elements of a's storage from a's first element on (a view's span). */
  private static Buf bufferOf(INDArray a, DType dtype, int n) {
    int off = (int) a.offset();
    if (dtype != DType.FLOAT32) {
      return Buf.of(a.data().asNioDouble(), off, n);
    }
    return VectorSupport.ENABLED
        ? Buf.of(a.data().asNioFloat(), a.data().asNio().order(java.nio.ByteOrder.nativeOrder()),
            off, n)
        : Buf.of(a.data().asNioFloat(), off, n);
  }

  @Override
  public boolean isContiguous(Tensor t) {
    INDArray a = arr(t);
    if (a.rank() == 0 || a.length() == 1) {
      return true;
    }
    long expected = 1;
    for (int i = a.rank() - 1; i >= 0; i--) {
      long d = a.size(i);
      if (d != 1 && a.stride(i) != expected) {
        return false;
      }
      expected *= d;
    }
    return true;
  }

  @Override
  public Storage reshape(Tensor t, int[] shape) {
    INDArray a = arr(t);
    return st(t).view("r" + java.util.Arrays.toString(shape),
        () -> a.reshape('c', Shape.toLong(shape)));
  }

  @Override
  public Storage permute(Tensor t, int[] axes) {
    INDArray a = arr(t);
    return st(t).view("p" + java.util.Arrays.toString(axes), () -> a.permute(axes));
  }

  @Override
  public Storage slice(Tensor t, int axis, int start, int end) {
    INDArray a = arr(t);
    return st(t).view("s" + axis + ":" + start + ":" + end, () -> {
      INDArrayIndex[] idx = new INDArrayIndex[a.rank()];
      for (int i = 0; i < idx.length; i++) {
        idx[i] = i == axis ? NDArrayIndex.interval(start, end) : NDArrayIndex.all();
      }
      return a.get(idx);
    });
  }

  @Override
  public void assign(Tensor src, Tensor out) {
    try {
      if (src.numel() == 1 && isContiguous(out)) {
        JavaKernels.fill(buffer(out), get(src, 0)); // converted as it is stored
        return;
      }
      INDArray s = arr(src);
      INDArray o = arr(out);
      if (src.dtype() != out.dtype()) {
        s = s.castTo(o.dataType());
      }
      int[] ss = Shape.toInt(s.stride());
      int[] os = Shape.toInt(o.stride());
      if (src.sameShape(out) && src.dtype() == out.dtype() && (out.numel() < SMALL_COPY
          || out.numel() < SMALL_ROW_COPY
              && JavaKernels.copiesRows(out.dtype() == DType.FLOAT32, ss, os))) {
        // a small copy between views (the decode step's) through the strides, which costs less
        // than setting up ND4J's op; large ones are faster in ND4J
        JavaKernels.copyStrided(whole(s, src.dtype()), (int) s.offset(), ss, whole(o, out.dtype()),
            (int) o.offset(), os, out.shape());
      } else if (src.sameShape(out)) {
        o.assign(s);
      } else {
        // broadcast: out = 0 + src with numpy semantics
        o.assign(0.0);
        Nd4j.exec(new AddOp(new INDArray[] {o, s}, new INDArray[] {o}));
      }
    } finally {
      keep(src, out);
    }
  }

  @Override
  public void assignAt(Tensor src, Tensor out, int axis, Indices start) {
    int s = start.values()[0];
    int n = src.dim(axis);
    if (n > 0) {
      int[] shape = out.shape().clone();
      shape[axis] = n;
      assign(src, Tensor.ofStorage(slice(out, axis, s, s + n), out.dtype(), shape));
    }
  }

  @Override
  public void fill(Tensor out, double value) {
    try {
      if (isContiguous(out)) {
        JavaKernels.fill(buffer(out), value);
      } else {
        arr(out).assign(value);
      }
    } finally {
      keep(out);
    }
  }

  @Override
  public void binary(BinaryOp op, Tensor a, Tensor b, Tensor out) {
    try {
      if (isContiguous(a) && isContiguous(b)) {
        int[] os = out.shape();
        int n = (int) out.numel();
        int pa = trailingPeriod(a.shape(), os);
        int pb = trailingPeriod(b.shape(), os);
        boolean bigSameShape = pa == n && pb == n && n >= ND4J_ARITHMETIC_MIN;
        if (pa > 0 && pb > 0 && (pa == n || pb == n) && !(bigSameShape && isArithmetic(op))) {
          JavaKernels.binaryRows(op, buffer(a), pa, buffer(b), pb, buffer(out));
          return;
        }
        int ca = columnInner(a.shape(), os);
        int cb = columnInner(b.shape(), os);
        if ((pa == n && cb > 0) || (pb == n && ca > 0)) {
          int inner = pa == n ? cb : ca;
          JavaKernels.binaryColumns(op, buffer(a), pa != n, buffer(b), pb != n, inner, buffer(out));
          return;
        }
      }
      if (op == BinaryOp.GREATER || op == BinaryOp.MAX) {
        int[] s = out.shape();
        Tensor ea = a.sameShape(out) ? a.contiguous() : a.broadcastTo(s);
        Tensor eb = b.sameShape(out) ? b.contiguous() : b.broadcastTo(s);
        JavaKernels.binaryRows(op, buffer(ea), (int) out.numel(), buffer(eb), (int) out.numel(),
            buffer(out));
        return;
      }
      INDArray[] in = {arr(a), arr(b)};
      INDArray[] o = {arr(out)};
      switch (op) {
        case ADD:
          Nd4j.exec(new AddOp(in, o));
          break;
        case SUB:
          Nd4j.exec(new SubOp(in, o));
          break;
        case MUL:
          Nd4j.exec(new MulOp(in, o));
          break;
        case DIV:
          Nd4j.exec(new DivOp(in, o));
          break;
        default:
          throw new AssertionError(op);
      }
    } finally {
      keep(a, b, out);
    }
  }

  private static boolean isArithmetic(BinaryOp op) {
    return op == BinaryOp.ADD || op == BinaryOp.SUB || op == BinaryOp.MUL || op == BinaryOp.DIV;
  }

  /**
   * If x, broadcast to {@code out}, repeats a block of the output's trailing axes (x equal to
   * out, a bias row, a scalar), the size of that block; else -1.
   */
  static int trailingPeriod(int[] x, int[] out) {
    int lead = 0;
    while (lead < x.length && x[lead] == 1) {
      lead++;
    }
    int k = x.length - lead;
    if (k > out.length) {
      return -1;
    }
    int period = 1;
    for (int i = 0; i < k; i++) {
      if (x[lead + i] != out[out.length - k + i]) {
        return -1;
      }
      period *= x[lead + i];
    }
    return period;
  }

  /**
   * If x, broadcast to {@code out}, equals out on its leading axes and is 1 on the rest (a
   * per-row statistic such as (N, 1) against (N, K)), the number of trailing elements each of
   * its values covers; else -1.
   */
  static int columnInner(int[] x, int[] out) {
    int off = out.length - x.length;
    if (off < 0) {
      return -1;
    }
    int k = 0;
    while (k < out.length && (k < off ? 1 : x[k - off]) == out[k] && (k >= off || out[k] == 1)) {
      k++;
    }
    for (int i = k; i < out.length; i++) {
      if ((i < off ? 1 : x[i - off]) != 1) {
        return -1;
      }
    }
    if (k == out.length) {
      return -1;
    }
    return Shape.prod(out, k, out.length);
  }

  /**
   * From this many elements on, exp, log and sigmoid run in ND4J, whose vectorised kernels cost
   * about 2-5 ns per element against 15 ns for {@code Math.exp} (measured here), within 1 ulp (exp,
   * log) and 2 ulp (sigmoid) of the correctly rounded float. Not tanh: ND4J's float tanh has an
   * absolute error of about 6e-8, not a relative one (tanh(-1.5e-8) is 0 there, 61% of values
   * differ from the correctly rounded ones, measured on 2^22 values), so {@link Tensor#tanh} runs
   * {@link JavaKernels#tanh} (about 20-40 ns per element); GELU keeps ND4J's ({@link #gelu}).
   */
  static final int ND4J_TRANSCENDENTAL_MIN = 2048;

  /**
   * From this many elements on, same-shape add/sub/mul/div run in ND4J (about 0.6 ns per element,
   * vectorised, against about 1.1 ns for the generic Java loop), which pays its per-call cost.
   */
  static final int ND4J_ARITHMETIC_MIN = 1 << 16;

  @Override
  public void unary(UnaryOp op, Tensor a, Tensor out) {
    Tensor dense = null;
    try {
      if (a.numel() >= ND4J_TRANSCENDENTAL_MIN && isContiguous(a)) {
        INDArray x = arr(a);
        INDArray z = arr(out);
        switch (op) {
          case EXP:
            Nd4j.exec(new Exp(x, z));
            return;
          case LOG:
            Nd4j.exec(new Log(x, z));
            return;
          case SIGMOID:
            Nd4j.exec(new Sigmoid(x, z));
            return;
          default:
            break;
        }
      }
      dense = a.contiguous(); // a copy if a is a view: kept alive below too
      JavaKernels.unary(op, buffer(dense), buffer(out));
    } finally {
      keep(a, out, dense);
    }
  }

  @Override
  public void scalar(ScalarOp op, Tensor a, double s, Tensor out) {
    Tensor dense = a.contiguous(); // a copy if a is a view: kept alive below too
    try {
      JavaKernels.scalar(op, buffer(dense), s, buffer(out));
    } finally {
      keep(a, out, dense);
    }
  }

  @Override
  public void axpy(double alpha, Tensor x, Tensor y) {
    Tensor dense = x.contiguous(); // a copy if x is a view: kept alive below too
    try {
      JavaKernels.axpy(alpha, buffer(dense), buffer(y));
    } finally {
      keep(x, y, dense);
    }
  }

  /**
   * One matmul op object and one native op context per thread, reused for every product:
   * {@code Nd4j.matmul} builds both on each call (about 25 µs and two native allocations). The
   * context is purged after each product: ND4J 1.0.0-M2.1's native context otherwise keeps memory
   * the size of every output it was given (measured: +26 MB per (128, 200, 200) product, never
   * freed, which grew a training run to 24 GB).
   */
  private static final ThreadLocal<MatmulCall> MATMUL = ThreadLocal.withInitial(MatmulCall::new);

  private static final class MatmulCall {
    final Mmul op = new Mmul();
    final OpContext ctx = Nd4j.getExecutioner().buildContext();
  }

  @Override
  public void matmul(Tensor a, Tensor b, Tensor out, boolean transposeA, boolean transposeB) {
    if (!CblasGemm.multiply(arr(a), arr(b), arr(out), transposeA, transposeB)) {
      matmulNd4j(a, b, out, transposeA, transposeB);
    }
  }

  /** ND4J's own matrix multiply (its {@code matmul} op): layouts BLAS cannot read directly. */
  void matmulNd4j(Tensor a, Tensor b, Tensor out, boolean transposeA, boolean transposeB) {
    MatmulCall call = MATMUL.get();
    call.ctx.setInputArrays(arr(a), arr(b));
    call.ctx.setOutputArrays(arr(out));
    call.ctx.setIArguments(transposeA ? 1 : 0, transposeB ? 1 : 0, 0); // transpose a, b, result
    try {
      Nd4j.getExecutioner().exec(call.op, call.ctx);
    } finally {
      call.ctx.purge();
    }
  }

  @Override
  public void reduce(ReduceOp op, Tensor a, int[] axes, Tensor out) {
    try {
      int[] s = a.shape();
      int r = s.length;
      boolean trailing = axes[axes.length - 1] == r - 1 && axes[0] == r - axes.length;
      boolean leading = axes[0] == 0 && axes[axes.length - 1] == axes.length - 1;
      if (isContiguous(a) && trailing) {
        JavaKernels.reduceRows(op, buffer(a), Shape.prod(s, r - axes.length, r), buffer(out));
        return;
      }
      if (isContiguous(a) && leading) {
        JavaKernels.reduceColumns(op, buffer(a), Shape.prod(s, 0, axes.length),
            Shape.prod(s, axes.length, r), buffer(out));
        return;
      }
      INDArray x = arr(a);
      INDArray z = arr(out);
      switch (op) {
        case SUM:
          Nd4j.exec(new Sum(x, z, true, axes));
          break;
        case MEAN:
          Nd4j.exec(new Mean(x, z, true, axes));
          break;
        case MAX:
          Nd4j.exec(new Max(x, z, true, axes));
          break;
        default:
          throw new AssertionError(op);
      }
    } finally {
      keep(a, out);
    }
  }

  @Override
  public void softmax(Tensor a, Tensor out) {
    Tensor dense = a.contiguous(); // a copy if a is a view: kept alive below too
    try {
      JavaKernels.softmaxRows(buffer(dense), a.dim(-1), buffer(out));
    } finally {
      keep(a, out, dense);
    }
  }

  @Override
  public void where(Tensor cond, Tensor a, Tensor b, Tensor out) {
    // copies of views, kept alive below too
    Tensor[] dense = {cond.contiguous(), a.contiguous(), b.contiguous()};
    try {
      Buf c = buffer(dense[0]);
      Buf x = buffer(dense[1]);
      Buf y = buffer(dense[2]);
      Buf o = buffer(out);
      Parallel.forRange(o.size(), 1, (st, e) -> {
        for (int i = st; i < e; i++) {
          o.set(i, c.get(i) != 0 ? x.get(i) : y.get(i));
        }
      });
    } finally {
      keep(cond, a, b, out, dense);
    }
  }

  @Override
  public void concat(int axis, Tensor[] parts, Tensor out) {
    INDArray o = arr(out);
    int at = 0;
    for (Tensor p : parts) {
      int len = p.dim(axis);
      INDArrayIndex[] idx = new INDArrayIndex[o.rank()];
      for (int i = 0; i < idx.length; i++) {
        idx[i] = i == axis ? NDArrayIndex.interval(at, at + len) : NDArrayIndex.all();
      }
      o.get(idx).assign(arr(p));
      at += len;
    }
  }

  // ---------------------------------------------------------------- fused kernels

  @Override
  public void gelu(Tensor x, Tensor y, Tensor t) {
    try {
      FusedKernels.geluInner(buffer(x), buffer(t));
      geluTanh(t);
      FusedKernels.geluOuter(buffer(x), buffer(t), buffer(y));
    } finally {
      keep(x, y, t);
    }
  }

  /**
   * t = tanh(t) in place for GELU (t contiguous, made by {@link #gelu}'s caller): ND4J's tanh from
   * {@link #ND4J_TRANSCENDENTAL_MIN} elements on, 10x faster than {@code Math.tanh}, below that
   * {@link JavaKernels#geluTanh}. Their errors are absolute (about 6e-8 and 1e-16), which moves
   * 0.5 x (1 + t) by about an ulp, and every recorded GELU result (the demo's numbers) was made
   * with them.
   */
  private void geluTanh(Tensor t) {
    if (t.numel() >= ND4J_TRANSCENDENTAL_MIN) {
      Nd4j.exec(new Tanh(arr(t), arr(t)));
    } else {
      JavaKernels.geluTanh(buffer(t));
    }
  }

  @Override
  public void geluBackward(Tensor x, Tensor t, Tensor g, Tensor dx) {
    try {
      FusedKernels.geluBackward(buffer(x), buffer(t), buffer(g), buffer(dx));
    } finally {
      keep(x, t, g, dx);
    }
  }

  @Override
  public void silu(Tensor x, Tensor y, Tensor s) {
    try {
      FusedKernels.silu(buffer(x), buffer(y), buffer(s));
    } finally {
      keep(x, y, s);
    }
  }

  @Override
  public void siluBackward(Tensor x, Tensor s, Tensor g, Tensor dx) {
    try {
      FusedKernels.siluBackward(buffer(x), buffer(s), buffer(g), buffer(dx));
    } finally {
      keep(x, s, g, dx);
    }
  }

  @Override
  public void rmsNorm(Tensor x, Tensor gamma, double eps, Tensor y, Tensor rstd) {
    try {
      FusedKernels.rmsNorm(buffer(x), buffer(gamma), eps, x.dim(-1), buffer(y), buffer(rstd));
    } finally {
      keep(x, gamma, y, rstd);
    }
  }

  @Override
  public void rmsNormBackward(Tensor x, Tensor gamma, Tensor rstd, Tensor g, Tensor dx,
      Tensor dgamma) {
    try {
      FusedKernels.rmsNormBackward(buffer(x), buffer(gamma), buffer(rstd), buffer(g), x.dim(-1),
          buffer(dx), buffer(dgamma));
    } finally {
      keep(x, gamma, rstd, g, dx, dgamma);
    }
  }

  @Override
  public void layerNorm(Tensor x, Tensor gamma, Tensor beta, double eps, Tensor y, Tensor mean,
      Tensor rstd) {
    try {
      FusedKernels.layerNorm(buffer(x), buffer(gamma), buffer(beta), eps, x.dim(-1), buffer(y),
          buffer(mean), buffer(rstd));
    } finally {
      keep(x, gamma, beta, y, mean, rstd);
    }
  }

  @Override
  public void layerNormBackward(Tensor x, Tensor gamma, Tensor mean, Tensor rstd, Tensor g,
      Tensor dx, Tensor dgamma, Tensor dbeta) {
    try {
      FusedKernels.layerNormBackward(buffer(x), buffer(gamma), buffer(mean), buffer(rstd),
          buffer(g), x.dim(-1), buffer(dx), buffer(dgamma), buffer(dbeta));
    } finally {
      keep(x, gamma, mean, rstd, g, dx, dgamma, dbeta);
    }
  }

  @Override
  public void rope(Tensor x, Tensor cos, Tensor sin, int sign, Tensor y) {
    try {
      FusedKernels.rope(buffer(x), buffer(cos), buffer(sin), sign, x.dim(0), x.dim(1), x.dim(2),
          x.dim(3), buffer(y));
    } finally {
      keep(x, cos, sin, y);
    }
  }

  @Override
  public void softmaxBackward(Tensor y, Tensor g, double scale, Tensor dx) {
    try {
      FusedKernels.softmaxBackward(buffer(y), buffer(g), scale, y.dim(-1), buffer(dx));
    } finally {
      keep(y, g, dx);
    }
  }

  @Override
  public void logSoftmaxBackward(Tensor p, Tensor g, Tensor dx) {
    try {
      FusedKernels.logSoftmaxBackward(buffer(p), buffer(g), p.dim(-1), buffer(dx));
    } finally {
      keep(p, g, dx);
    }
  }

  @Override
  public void crossEntropyLoss(Tensor logp, Indices targets, int ignoreIndex, Tensor out) {
    try {
      FusedKernels.crossEntropyLoss(buffer(logp), targets.values(), ignoreIndex, logp.dim(-1),
          buffer(out));
    } finally {
      keep(logp, out);
    }
  }

  @Override
  public void crossEntropyBackward(Tensor p, Indices targets, int ignoreIndex, Tensor g,
      Tensor stats, Tensor dx) {
    try {
      double valid = buffer(stats).get(1);
      double scale = valid == 0 ? 0 : buffer(g).get(0) / valid;
      FusedKernels.crossEntropyBackward(buffer(p), targets.values(), ignoreIndex, scale, p.dim(-1),
          buffer(dx));
    } finally {
      keep(p, g, stats, dx);
    }
  }

  @Override
  public void log1mexp(Tensor x, Tensor y) {
    try {
      FusedKernels.log1mexp(buffer(x), buffer(y));
    } finally {
      keep(x, y);
    }
  }

  @Override
  public void log1mexpBackward(Tensor x, Tensor g, Tensor dx) {
    try {
      FusedKernels.log1mexpBackward(buffer(x), buffer(g), buffer(dx));
    } finally {
      keep(x, g, dx);
    }
  }

  @Override
  public void pickBackward(Tensor g, Indices idx, Tensor dx) {
    try {
      FusedKernels.pickBackward(buffer(g), idx.values(), dx.dim(0), dx.dim(1), buffer(dx));
    } finally {
      keep(g, dx);
    }
  }

  @Override
  public void dropoutMask(Tensor mask, double p, Rng rng) {
    try {
      FusedKernels.dropoutMask(buffer(mask), p, rng);
    } finally {
      keep(mask);
    }
  }

  @Override
  public void attentionSoftmax(Tensor s, double scale, Tensor keyMask, boolean causal,
      int queryOffset, Tensor p) {
    try {
      FusedKernels.attentionSoftmax(buffer(s), scale, keyMask == null ? null : buffer(keyMask),
          causal, queryOffset, s.dim(0), s.dim(1), s.dim(2), s.dim(3), buffer(p));
    } finally {
      keep(s, keyMask, p);
    }
  }

  /**
   * Multi-head attention (H = Hkv) reads its heads where they lie: the products are OpenBLAS's,
   * one per (batch row, head), with each view's own strides, which are the calls the composed
   * form makes on contiguous copies (the same bits, without the copies).
   */
  @Override
  public boolean readsHeadsInPlace(int[] qShape, int[] kShape) {
    return qShape[1] == kShape[1];
  }

  /** Whether attention's products take these float32 (B, H, ., .) views in place. */
  private boolean headsInPlace(Tensor q, Tensor k, Tensor[] read, Tensor[] written) {
    if (q.dtype() != DType.FLOAT32 || q.dim(1) != k.dim(1)) {
      return false;
    }
    for (Tensor t : read) {
      if (t != null && !CblasGemm.readable(arr(t))) {
        return false;
      }
    }
    for (Tensor t : written) {
      if (t != null && !CblasGemm.writable(arr(t))) {
        return false;
      }
    }
    return true;
  }

  /** c = op(a) op(b) per (batch row, head) of 4-D views, by OpenBLAS (it must read them). */
  private void headProduct(Tensor a, Tensor b, Tensor c, boolean transposeA, boolean transposeB) {
    try {
      if (!CblasGemm.multiply(arr(a), arr(b), arr(c), transposeA, transposeB)) {
        throw new IllegalStateException("attention: a product of heads BLAS cannot read");
      }
    } finally {
      keep(a, b, c);
    }
  }

  @Override
  public void attention(Tensor q, Tensor k, Tensor v, double scale, Tensor keyMask,
      boolean causal, int queryOffset, Tensor p, Tensor out) {
    if (q.dim(2) != 1 && headsInPlace(q, k, new Tensor[] {q, k, v}, new Tensor[] {out, p})) {
      headProduct(q, k, p, false, true); // S = Q Kᵀ, (B, H, Tq, Tk)
      attentionSoftmax(p, scale, keyMask, causal, queryOffset, p);
      headProduct(p, v, out, false, false); // O = P V
      return;
    }
    if (q.dim(2) != 1 || q.dtype() != DType.FLOAT32) {
      // many queries per row (training, a prompt): OpenBLAS's products are faster; float64
      // (tests) keeps them too
      Backend.super.attention(q, k, v, scale, keyMask, causal, queryOffset, p, out);
      return;
    }
    if (!isContiguous(q) || !isContiguous(k) || !isContiguous(v) || !isContiguous(out)) {
      Tensor o = isContiguous(out) ? out : Tensor.emptyOn(this, out.dtype(), out.shape());
      attention(dense(q), dense(k), dense(v), scale, keyMask, causal, queryOffset, p,
          o); // views: the same kernel on contiguous copies
      if (o != out) {
        assign(o, out);
      }
      return;
    }
    // one query per row (decoding): one pass instead of two tiny products per head
    try {
      FusedKernels.attention((Buf.F32) buffer(q), (Buf.F32) buffer(k), (Buf.F32) buffer(v),
          scale, keyMask == null ? null : (Buf.F32) buffer(keyMask), causal, queryOffset, q.dim(0),
          q.dim(1), k.dim(1), q.dim(2), k.dim(2), q.dim(3), (Buf.F32) buffer(p),
          (Buf.F32) buffer(out));
    } finally {
      keep(q, k, v, keyMask, p, out);
    }
  }

  /**
   * The interface's products on the heads where they lie, as {@link #attention}: the calls its
   * default makes on contiguous copies, per (batch row, head).
   */
  @Override
  public void attentionBackward(Tensor q, Tensor k, Tensor v, Tensor p, Tensor g, double scale,
      Tensor dq, Tensor dk, Tensor dv) {
    if (!headsInPlace(q, k, new Tensor[] {q, k, v, g, p}, new Tensor[] {dq, dk, dv})) {
      Backend.super.attentionBackward(q, k, v, p, g, scale, dq, dk, dv);
      return;
    }
    if (dv != null) {
      headProduct(p, g, dv, true, false); // dV = Pᵀ G
    }
    if (dq == null && dk == null) {
      return;
    }
    Tensor dP = Tensor.emptyOn(this, p.dtype(), p.shape());
    headProduct(g, v, dP, false, true); // dP = G Vᵀ
    Tensor dS = Tensor.emptyOn(this, p.dtype(), p.shape());
    softmaxBackward(p, dP, scale, dS);
    if (dq != null) {
      headProduct(dS, k, dq, false, false); // dQ = dS K
    }
    if (dk != null) {
      headProduct(dS, q, dk, true, false); // dK = dSᵀ Q
    }
  }

  /** t if contiguous, else a contiguous copy on this backend. */
  private Tensor dense(Tensor t) {
    if (isContiguous(t)) {
      return t;
    }
    Tensor c = Tensor.emptyOn(this, t.dtype(), t.shape());
    assign(t, c);
    return c;
  }

  /** Reads q, k, v and writes out where they lie (heads of any strides, {@link Heads}). */
  @Override
  public void flashAttention(Tensor q, Tensor k, Tensor v, double scale, Tensor keyMask,
      boolean causal, int queryOffset, Tensor lse, Tensor out) {
    Tensor o = headsOf(out, true);
    Tensor[] in = {headsOf(q, false), headsOf(k, false), headsOf(v, false)};
    try {
      FlashAttentionKernels.forward(heads(in[0]), heads(in[1]), heads(in[2]), scale,
          keyMask == null ? null : buffer(keyMask), causal, queryOffset, q.dim(0), q.dim(1),
          k.dim(1), q.dim(2), k.dim(2), q.dim(3), buffer(lse), heads(o));
    } finally {
      keep(in, keyMask, lse, o);
    }
    if (o != out) {
      assign(o, out);
    }
  }

  /** Reads q, k, v, out and g and writes dq, dk and dv where they lie, as the forward. */
  @Override
  public void flashAttentionBackward(Tensor q, Tensor k, Tensor v, Tensor out, Tensor lse,
      Tensor g, double scale, Tensor keyMask, boolean causal, int queryOffset, Tensor dq,
      Tensor dk, Tensor dv) {
    Tensor[] in = {headsOf(q, false), headsOf(k, false), headsOf(v, false),
        headsOf(out, false), headsOf(g, false)};
    Tensor[] want = {dq, dk, dv};
    Tensor[] d = {headsOf(dq, true), headsOf(dk, true), headsOf(dv, true)};
    try {
      FlashAttentionKernels.backward(heads(in[0]), heads(in[1]), heads(in[2]), heads(in[3]),
          null, buffer(lse), heads(in[4]), scale, keyMask == null ? null : buffer(keyMask),
          causal, queryOffset, q.dim(0), q.dim(1), k.dim(1), q.dim(2), k.dim(2), q.dim(3),
          heads(d[0]), heads(d[1]), heads(d[2]));
    } finally {
      keep(in, lse, keyMask, d);
    }
    for (int i = 0; i < 3; i++) {
      if (d[i] != want[i]) {
        assign(d[i], want[i]);
      }
    }
  }

  /** Whether t (B, heads, T, D) is heads the flash loops read where they lie (D contiguous). */
  private boolean headsReadable(Tensor t) {
    INDArray a = arr(t);
    return isContiguous(t) || (a.rank() == 4 && (a.size(3) == 1 || a.stride(3) == 1));
  }

  /**
   * t where {@link #headsReadable}, else a contiguous copy of it ({@code written}: contiguous
   * scratch, which the caller copies into t).
   */
  private Tensor headsOf(Tensor t, boolean written) {
    if (headsReadable(t)) {
      return t;
    }
    return written ? Tensor.emptyOn(this, t.dtype(), t.shape()) : dense(t);
  }

  /** t (B, heads, T, D), {@link #headsReadable}, as {@link Heads} over its storage. */
  private Heads heads(Tensor t) {
    INDArray a = arr(t);
    int[] s = t.shape();
    if (isContiguous(t)) {
      return Heads.contiguous(buffer(t), s[1], s[2], s[3]);
    }
    long[] st = a.stride();
    Buf b = bufferOf(a, t.dtype(), (int) Heads.span(s, st[0], st[1], st[2]));
    return new Heads(b, (int) st[0], (int) st[1], (int) st[2]);
  }

  @Override
  public void adamw(Tensor p, Tensor g, Tensor m, Tensor v, Tensor step, double beta1,
      double beta2, double eps, double weightDecay) {
    try {
      Buf s = buffer(step); // {lr, bc1, bc2}
      FusedKernels.adamw(buffer(p), buffer(g), buffer(m), buffer(v), s.get(0), beta1, beta2, eps,
          weightDecay, s.get(1), s.get(2));
    } finally {
      keep(p, g, m, v, step);
    }
  }

  @Override
  public double sumOfSquares(Tensor x, double acc) {
    try {
      return FusedKernels.sumOfSquares(buffer(x), acc);
    } finally {
      keep(x);
    }
  }

  @Override
  public void ema(Tensor t, Tensor s, double rate) {
    try {
      FusedKernels.ema(buffer(t), buffer(s), rate);
    } finally {
      keep(t, s);
    }
  }

  @Override
  public void gatherRows(Tensor table, Indices ids, Tensor out) {
    try {
      FusedKernels.gatherRows(buffer(table), ids.values(), table.dim(1), buffer(out));
    } finally {
      keep(table, out);
    }
  }

  @Override
  public void scatterAddRows(Tensor src, Indices ids, Tensor table) {
    try {
      FusedKernels.scatterAddRows(buffer(src), ids.values(), table.dim(1), buffer(table));
    } finally {
      keep(src, table);
    }
  }

  @Override
  public void pick(Tensor x, Indices idx, Tensor out) {
    try {
      FusedKernels.pick(buffer(x), idx.values(), x.dim(0), x.dim(1), buffer(out));
    } finally {
      keep(x, out);
    }
  }

  @Override
  public void blendCoefficients(Tensor lp, Tensor p, Tensor lq, Indices tokens, Tensor tokenTerm,
      double lambda, double clip, Tensor c) {
    try {
      FusedKernels.blendCoefficients(buffer(lp), buffer(p), buffer(lq), tokens.values(),
          buffer(tokenTerm), lp.dim(1), lambda, clip, buffer(c));
    } finally {
      keep(lp, p, lq);
      keep(tokenTerm, c);
    }
  }

  @Override
  public Indices topK(Tensor x, int K) {
    try {
      int[] ids = FusedKernels.topK(buffer(x), x.dim(0), x.dim(1), K);
      return Indices.computed(ids.length, x.dim(1), ids, null, null);
    } finally {
      keep(x);
    }
  }

  @Override
  public boolean isFinite(Tensor t) {
    try {
      return FusedKernels.isFinite(buffer(t));
    } finally {
      keep(t);
    }
  }

  @Override
  public void sampleRows(Tensor logits, boolean[] active, double temperature, int topK,
      double topP, boolean greedy, double[] u, int[] tokens, double[] logprobs) {
    try {
      SamplingKernels.sampleRows(buffer(logits), logits.dim(1), active, temperature, topK, topP,
          greedy, u, tokens, logprobs);
    } finally {
      keep(logits);
    }
  }
}
