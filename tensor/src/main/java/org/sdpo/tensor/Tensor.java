package org.sdpo.tensor;

import java.util.Arrays;
import org.sdpo.tensor.Backend.BinaryOp;
import org.sdpo.tensor.Backend.ReduceOp;
import org.sdpo.tensor.Backend.ScalarOp;
import org.sdpo.tensor.Backend.UnaryOp;

/**
 * An n-dimensional array of float32 or float64 values: a shape, a dtype and backend memory.
 *
 * <p>Operations are out of place: they return a new tensor and never modify their inputs (the
 * autograd layer relies on this for saved tensors). The few in-place methods are named so
 * ({@code addInPlace}, {@code axpyInPlace}, {@code assign}, {@code fill}) and exist for gradient
 * accumulation and optimizer updates. Every shape or argument error throws {@link
 * IllegalArgumentException} naming the op and the shapes.
 *
 * <p>New tensors take their memory from the current {@link Workspace} scope if one is open.
 *
 * <p>Dimension letters in comments: B batch, T time, C channels, V vocabulary, H heads, D head
 * size, N rows.
 */
public final class Tensor {
  private final Storage storage;
  private final int[] shape;
  private final DType dtype;
  private final Workspace.Scope scope;

  /**
   * A tensor over memory a backend made: for backends in other modules that need temporaries
   * (a contiguous copy, a converted operand). Nothing above the tensor layer calls it.
   */
  public static Tensor ofStorage(Storage storage, DType dtype, int... shape) {
    return new Tensor(storage, shape.clone(), dtype, null);
  }

  Tensor(Storage storage, int[] shape, DType dtype, Workspace.Scope scope) {
    this.storage = storage;
    this.shape = shape;
    this.dtype = dtype;
    this.scope = scope;
  }

  private static Backend backend() {
    return Backends.current();
  }

  // ---------------------------------------------------------------- creation

  /** Uninitialised memory of the given shape (from the workspace if a scope is open). */
  public static Tensor empty(DType dtype, int... shape) {
    return emptyOn(backend(), dtype, shape);
  }

  /**
   * {@link #empty} on {@code be}, which need not be the current backend: a {@link Backend}
   * default method composing other calls makes its intermediates with it (from the current
   * workspace, as every op's results).
   */
  static Tensor emptyOn(Backend be, DType dtype, int... shape) {
    int[] s = Shape.checked("empty", shape);
    Workspace.Scope scope = Workspace.current();
    Storage st = scope != null ? scope.take(be, dtype, s) : be.allocate(dtype, s);
    return new Tensor(st, s, dtype, scope);
  }

  public static Tensor zeros(DType dtype, int... shape) {
    return full(dtype, 0.0, shape);
  }

  public static Tensor ones(DType dtype, int... shape) {
    return full(dtype, 1.0, shape);
  }

  public static Tensor full(DType dtype, double value, int... shape) {
    Tensor t = empty(dtype, shape);
    backend().fill(t, value);
    return t;
  }

  /** A rank-0 tensor. */
  public static Tensor scalar(DType dtype, double value) {
    return full(dtype, value);
  }

  /**
   * A tensor holding a copy of {@code data} in row-major order (from the workspace pool if a scope
   * is open).
   */
  public static Tensor of(DType dtype, double[] data, int... shape) {
    int[] s = Shape.checked("of", shape);
    if (Shape.numel(s) != data.length) {
      throw new IllegalArgumentException(
          "of: " + data.length + " values do not fill shape " + Shape.str(s));
    }
    if (Workspace.current() == null) {
      return new Tensor(backend().fromDoubles(data, dtype, s), s, dtype, null);
    }
    Tensor t = empty(dtype, s);
    backend().write(t, 0, data, data.length);
    return t;
  }

  /** A tensor holding a copy of {@code data} in row-major order. */
  public static Tensor of(DType dtype, float[] data, int... shape) {
    int[] s = Shape.checked("of", shape);
    if (Shape.numel(s) != data.length) {
      throw new IllegalArgumentException(
          "of: " + data.length + " values do not fill shape " + Shape.str(s));
    }
    if (Workspace.current() == null) {
      return new Tensor(backend().fromFloats(data, dtype, s), s, dtype, null);
    }
    Tensor t = empty(dtype, s);
    fillInChunks(t, data.length, i -> data[i]);
    return t;
  }

  /**
   * Writes {@code value(i)} for i &lt; n into the contiguous tensor t through the backend, a chunk
   * at a time (so no Java array the size of a large tensor, and any backend, a GPU's too).
   */
  private static void fillInChunks(Tensor t, int n, java.util.function.IntToDoubleFunction value) {
    double[] chunk = new double[Math.min(n, 1 << 16)];
    for (int start = 0; start < n; start += chunk.length) {
      int count = Math.min(chunk.length, n - start);
      for (int i = 0; i < count; i++) {
        chunk[i] = value.applyAsDouble(start + i);
      }
      backend().write(t, start, chunk, count);
    }
  }

  /** Uniform values in [low, high), drawn from {@code rng} in row-major order. */
  public static Tensor uniform(Rng rng, DType dtype, double low, double high, int... shape) {
    Tensor t = empty(dtype, Shape.checked("uniform", shape)); // filled in place: no Java array
    fillInChunks(t, (int) t.numel(), i -> low + (high - low) * rng.nextDouble());
    return t;
  }

  /** Normal values with the given mean and standard deviation, drawn from {@code rng}. */
  public static Tensor normal(Rng rng, DType dtype, double mean, double std, int... shape) {
    Tensor t = empty(dtype, Shape.checked("normal", shape)); // filled in place: no Java array
    fillInChunks(t, (int) t.numel(), i -> mean + std * rng.nextGaussian());
    return t;
  }

  /**
   * The causal mask of a sequence of length T: (T, T), 1 where key position &lt;= query position.
   */
  public static Tensor causalMask(DType dtype, int T) {
    double[] d = new double[T * T];
    for (int q = 0; q < T; q++) {
      for (int k = 0; k <= q; k++) {
        d[q * T + k] = 1;
      }
    }
    return of(dtype, d, T, T);
  }

  // ---------------------------------------------------------------- metadata and data

  /** The shape (a copy). */
  public int[] shape() {
    return shape.clone();
  }

  /** The size of one axis; negative axes count from the end. */
  public int dim(int axis) {
    return shape[Shape.axis("dim", axis, shape.length)];
  }

  public int rank() {
    return shape.length;
  }

  public long numel() {
    return Shape.numel(shape);
  }

  public DType dtype() {
    return dtype;
  }

  /** True if both tensors have the same shape. */
  public boolean sameShape(Tensor o) {
    return Arrays.equals(shape, o.shape);
  }

  /** The backend memory; only backends look inside. Fails if its workspace scope has closed. */
  public Storage storage() {
    if (scope != null && scope.isClosed()) {
      throw new IllegalStateException(
          "tensor " + Shape.str(shape) + " " + dtype
              + " was used after its workspace scope closed; copy it with detach() first");
    }
    return storage;
  }

  /** The value of a tensor with exactly one element. */
  public double item() {
    if (numel() != 1) {
      throw new IllegalArgumentException("item: tensor of shape " + Shape.str(shape) + " has "
          + numel() + " elements, expected 1");
    }
    return backend().get(this, 0);
  }

  /** One element by its indices. */
  public double get(int... index) {
    return backend().get(this, flatIndex("get", index));
  }

  /** Sets one element (in place). */
  public void set(double value, int... index) {
    backend().set(this, flatIndex("set", index), value);
  }

  private long flatIndex(String op, int[] index) {
    if (index.length != shape.length) {
      throw new IllegalArgumentException(op + ": " + index.length + " indices for a tensor of shape "
          + Shape.str(shape));
    }
    long flat = 0;
    for (int i = 0; i < shape.length; i++) {
      if (index[i] < 0 || index[i] >= shape[i]) {
        throw new IllegalArgumentException(op + ": index " + Arrays.toString(index)
            + " is out of bounds for shape " + Shape.str(shape));
      }
      flat = flat * shape[i] + index[i];
    }
    return flat;
  }

  /** All elements in row-major order. */
  public double[] toDoubleArray() {
    return backend().toDoubles(this);
  }

  /** All elements in row-major order, as floats. */
  public float[] toFloatArray() {
    return backend().toFloats(this);
  }

  /**
   * Writes {@code count} values of {@code src} into the elements {@code [start, start + count)}
   * (row-major) of this contiguous tensor, converted to its dtype; in place.
   */
  public void write(int start, double[] src, int count) {
    checkRange("write", start, count, src.length);
    if (!backend().isContiguous(this)) {
      throw new IllegalArgumentException("write: tensor view " + Shape.str(shape)
          + " is not contiguous");
    }
    backend().write(this, start, src, count);
  }

  /** Reads the elements {@code [start, start + count)} (row-major) into {@code dst}. */
  public void read(int start, double[] dst, int count) {
    checkRange("read", start, count, dst.length);
    backend().read(contiguous(), start, dst, count);
  }

  private void checkRange(String op, int start, int count, int arrayLength) {
    if (start < 0 || count < 0 || count > arrayLength || (long) start + count > numel()) {
      throw new IllegalArgumentException(op + ": elements [" + start + ", " + ((long) start + count)
          + ") of a tensor of shape " + Shape.str(shape) + " through an array of " + arrayLength);
    }
  }

  /**
   * Element access for Java kernels (makes a contiguous copy first if needed). The view does not
   * keep any tensor alive: hold this tensor while using it, and for a view call
   * {@link #contiguous()} yourself and hold the copy (a collection could free its memory under
   * the view otherwise).
   */
  public Buf buffer() {
    return backend().buffer(contiguous());
  }

  /** This tensor if its memory is row-major without gaps, else a contiguous copy. */
  public Tensor contiguous() {
    return backend().isContiguous(this) ? this : copy();
  }

  // ---------------------------------------------------------------- copies, views, dtype

  /** A copy in fresh memory (of the current workspace scope, if any). */
  public Tensor copy() {
    Tensor out = empty(dtype, shape);
    backend().assign(this, out);
    return out;
  }

  /** A copy that lives outside any workspace scope, e.g. to keep a value after a step. */
  public Tensor detach() {
    return Workspace.persistent(this::copy);
  }

  /** A copy converted to another dtype (this tensor itself if the dtype already matches). */
  public Tensor to(DType target) {
    if (target == dtype) {
      return this;
    }
    Tensor out = empty(target, shape);
    backend().assign(this, out);
    return out;
  }

  /** The same elements in another shape; one dimension may be -1 (inferred). */
  public Tensor reshape(int... newShape) {
    int[] s = newShape.clone();
    int infer = -1;
    long known = 1;
    for (int i = 0; i < s.length; i++) {
      if (s[i] == -1) {
        if (infer >= 0) {
          throw new IllegalArgumentException("reshape: more than one -1 in " + Arrays.toString(s));
        }
        infer = i;
      } else if (s[i] <= 0) {
        throw new IllegalArgumentException(
            "reshape: bad dimension in " + Arrays.toString(s) + " for shape " + Shape.str(shape));
      } else {
        known *= s[i];
      }
    }
    if (infer >= 0) {
      if (numel() % known != 0) {
        throw new IllegalArgumentException("reshape: cannot reshape " + Shape.str(shape) + " ("
            + numel() + " elements) to " + Arrays.toString(newShape));
      }
      s[infer] = (int) (numel() / known);
    }
    if (Shape.numel(s) != numel()) {
      throw new IllegalArgumentException("reshape: cannot reshape " + Shape.str(shape) + " ("
          + numel() + " elements) to " + Arrays.toString(newShape));
    }
    if (Arrays.equals(s, shape)) {
      return this;
    }
    Tensor c = contiguous();
    return new Tensor(backend().reshape(c, s), s, dtype, c.scope);
  }

  /** A view with the axes reordered: output axis i is input axis {@code axes[i]}. */
  public Tensor permute(int... axes) {
    if (axes.length != shape.length) {
      throw new IllegalArgumentException("permute: " + Arrays.toString(axes)
          + " does not list every axis of shape " + Shape.str(shape));
    }
    boolean[] seen = new boolean[axes.length];
    int[] s = new int[axes.length];
    for (int i = 0; i < axes.length; i++) {
      int a = Shape.axis("permute", axes[i], shape.length);
      if (seen[a]) {
        throw new IllegalArgumentException("permute: axis " + a + " listed twice in "
            + Arrays.toString(axes));
      }
      seen[a] = true;
      s[i] = shape[a];
    }
    return new Tensor(backend().permute(this, resolve(axes)), s, dtype, scope);
  }

  private int[] resolve(int[] axes) {
    int[] r = new int[axes.length];
    for (int i = 0; i < axes.length; i++) {
      r[i] = Shape.axis("permute", axes[i], shape.length);
    }
    return r;
  }

  /** A view with two axes swapped. */
  public Tensor transpose(int axisA, int axisB) {
    int a = Shape.axis("transpose", axisA, shape.length);
    int b = Shape.axis("transpose", axisB, shape.length);
    int[] p = new int[shape.length];
    for (int i = 0; i < p.length; i++) {
      p[i] = i;
    }
    p[a] = b;
    p[b] = a;
    return permute(p);
  }

  /** A view of positions {@code [start, end)} along {@code axis}. */
  public Tensor slice(int axis, int start, int end) {
    int a = Shape.axis("slice", axis, shape.length);
    if (start < 0 || end > shape[a] || start >= end) {
      throw new IllegalArgumentException("slice: range [" + start + ", " + end
          + ") is empty or outside axis " + a + " of shape " + Shape.str(shape));
    }
    int[] s = shape.clone();
    s[a] = end - start;
    return new Tensor(backend().slice(this, a, start, end), s, dtype, scope);
  }

  /** Concatenation along {@code axis}; all other dimensions and dtypes must agree. */
  public static Tensor concat(int axis, Tensor... parts) {
    if (parts.length == 0) {
      throw new IllegalArgumentException("concat: no tensors");
    }
    int[] s = parts[0].shape.clone();
    int a = Shape.axis("concat", axis, s.length);
    s[a] = 0;
    for (Tensor p : parts) {
      if (p.rank() != s.length || p.dtype != parts[0].dtype) {
        throw new IllegalArgumentException("concat: " + describe(parts) + " differ in rank or dtype");
      }
      for (int i = 0; i < s.length; i++) {
        if (i != a && p.shape[i] != parts[0].shape[i]) {
          throw new IllegalArgumentException("concat along axis " + a + ": shapes "
              + describe(parts) + " differ outside that axis");
        }
      }
      s[a] += p.shape[a];
    }
    Tensor out = empty(parts[0].dtype, s);
    backend().concat(a, parts, out);
    return out;
  }

  private static String describe(Tensor[] parts) {
    StringBuilder sb = new StringBuilder();
    for (Tensor p : parts) {
      sb.append(sb.length() == 0 ? "" : ", ").append(Shape.str(p.shape)).append(' ').append(p.dtype);
    }
    return sb.toString();
  }

  /** This tensor broadcast (copied) to a larger shape. */
  public Tensor broadcastTo(int... target) {
    if (!Shape.broadcastsTo(shape, target)) {
      throw new IllegalArgumentException("broadcastTo: shape " + Shape.str(shape)
          + " cannot be broadcast to " + Shape.str(target));
    }
    Tensor out = empty(dtype, target);
    backend().assign(this, out);
    return out;
  }

  /**
   * The reverse of broadcasting: sums over the axes along which {@code target} was broadcast to
   * reach this tensor's shape. This is how a gradient flows back through a broadcast.
   */
  public Tensor sumTo(int... target) {
    if (Arrays.equals(shape, target)) {
      return this;
    }
    if (!Shape.broadcastsTo(target, shape)) {
      throw new IllegalArgumentException("sumTo: shape " + Shape.str(target)
          + " does not broadcast to " + Shape.str(shape));
    }
    int off = shape.length - target.length;
    int n = 0;
    int[] axes = new int[shape.length];
    for (int i = 0; i < shape.length; i++) {
      if (i < off || (target[i - off] == 1 && shape[i] != 1)) {
        axes[n++] = i;
      }
    }
    Tensor r = reduce(ReduceOp.SUM, Arrays.copyOf(axes, n), true);
    return r.reshape(target.length == 0 ? new int[0] : target);
  }

  // ---------------------------------------------------------------- elementwise

  private Tensor binary(String op, BinaryOp kind, Tensor o) {
    requireSameDtype(op, o);
    int[] s = Shape.broadcast(op, shape, o.shape);
    Tensor out = empty(dtype, s);
    backend().binary(kind, this, o, out);
    return out;
  }

  private void requireSameDtype(String op, Tensor o) {
    if (o.dtype != dtype) {
      throw new IllegalArgumentException(op + ": dtypes differ: " + Shape.str(shape) + " " + dtype
          + " and " + Shape.str(o.shape) + " " + o.dtype);
    }
  }

  public Tensor add(Tensor o) {
    return binary("add", BinaryOp.ADD, o);
  }

  public Tensor sub(Tensor o) {
    return binary("sub", BinaryOp.SUB, o);
  }

  public Tensor mul(Tensor o) {
    return binary("mul", BinaryOp.MUL, o);
  }

  public Tensor div(Tensor o) {
    return binary("div", BinaryOp.DIV, o);
  }

  /** Elementwise max(a, b) with broadcasting. */
  public Tensor maximum(Tensor o) {
    return binary("maximum", BinaryOp.MAX, o);
  }

  /** 1 where this &gt; o, else 0 (broadcasting). */
  public Tensor greater(Tensor o) {
    return binary("greater", BinaryOp.GREATER, o);
  }

  private Tensor unary(UnaryOp kind) {
    Tensor out = empty(dtype, shape);
    backend().unary(kind, this, out);
    return out;
  }

  public Tensor neg() {
    return unary(UnaryOp.NEG);
  }

  public Tensor exp() {
    return unary(UnaryOp.EXP);
  }

  public Tensor log() {
    return unary(UnaryOp.LOG);
  }

  public Tensor tanh() {
    return unary(UnaryOp.TANH);
  }

  public Tensor sigmoid() {
    return unary(UnaryOp.SIGMOID);
  }

  public Tensor sqrt() {
    return unary(UnaryOp.SQRT);
  }

  public Tensor abs() {
    return unary(UnaryOp.ABS);
  }

  public Tensor relu() {
    return unary(UnaryOp.RELU);
  }

  public Tensor square() {
    return unary(UnaryOp.SQUARE);
  }

  public Tensor reciprocal() {
    return unary(UnaryOp.RECIPROCAL);
  }

  /** 1 where x &gt; 0, else 0. */
  public Tensor step() {
    return unary(UnaryOp.STEP);
  }

  private Tensor scalar(ScalarOp kind, double s) {
    Tensor out = empty(dtype, shape);
    backend().scalar(kind, this, s, out);
    return out;
  }

  public Tensor add(double s) {
    return scalar(ScalarOp.ADD, s);
  }

  public Tensor mul(double s) {
    return scalar(ScalarOp.MUL, s);
  }

  public Tensor pow(double p) {
    return scalar(ScalarOp.POW, p);
  }

  /** s - x. */
  public Tensor rsub(double s) {
    return scalar(ScalarOp.RSUB, s);
  }

  /** s / x. */
  public Tensor rdiv(double s) {
    return scalar(ScalarOp.RDIV, s);
  }

  /** cond != 0 ? a : b, elementwise, with all three broadcast to a common shape. */
  public static Tensor where(Tensor cond, Tensor a, Tensor b) {
    a.requireSameDtype("where", b);
    int[] s = Shape.broadcast("where", Shape.broadcast("where", cond.shape, a.shape), b.shape);
    Tensor c = cond.to(a.dtype).expand(s);
    Tensor out = empty(a.dtype, s);
    backend().where(c, a.expand(s), b.expand(s), out);
    return out;
  }

  private Tensor expand(int[] s) {
    return Arrays.equals(shape, s) ? this : broadcastTo(s);
  }

  // ---------------------------------------------------------------- in place

  /** this += o (same shape); returns this. */
  public Tensor addInPlace(Tensor o) {
    return axpyInPlace(1.0, o);
  }

  /** this += alpha * o (same shape); returns this. */
  public Tensor axpyInPlace(double alpha, Tensor o) {
    requireSameDtype("axpyInPlace", o);
    if (!sameShape(o)) {
      throw new IllegalArgumentException("axpyInPlace: shapes " + Shape.str(shape) + " and "
          + Shape.str(o.shape) + " differ");
    }
    backend().axpy(alpha, o, this);
    return this;
  }

  /** this = o, broadcasting o to this shape; returns this. */
  public Tensor assign(Tensor o) {
    if (!Shape.broadcastsTo(o.shape, shape)) {
      throw new IllegalArgumentException("assign: shape " + Shape.str(o.shape)
          + " cannot be assigned to " + Shape.str(shape));
    }
    backend().assign(o, this);
    return this;
  }

  /**
   * this[..., start : start + n, ...] = src along {@code axis} (n = src's size there, every other
   * axis the same), with start the one index of {@code start}, read where the copy runs: on a
   * device, from device memory (see {@link Backend#assignAt}). Returns this.
   */
  public Tensor assignAt(int axis, Indices start, Tensor src) {
    int a = Shape.axis("assignAt", axis, shape.length);
    int n = src.rank() == rank() ? src.shape[a] : -1;
    boolean agree = n >= 0;
    for (int i = 0; agree && i < shape.length; i++) {
      agree = i == a ? n <= shape[i] : src.shape[i] == shape[i];
    }
    if (!agree) {
      throw new IllegalArgumentException("assignAt: " + Shape.str(src.shape) + " does not fit "
          + Shape.str(shape) + " along axis " + axis);
    }
    requireSameDtype("assignAt", src);
    int s = start.length() == 1 ? start.values()[0] : -1;
    if (s < 0 || s + n > shape[a]) {
      throw new IllegalArgumentException("assignAt: " + n + " positions from "
          + java.util.Arrays.toString(start.values()) + " do not fit axis " + axis + " of "
          + Shape.str(shape));
    }
    backend().assignAt(src, this, a, start);
    return this;
  }

  /** Every element = value; returns this. */
  public Tensor fill(double value) {
    backend().fill(this, value);
    return this;
  }

  /** this = this * s (in place); returns this. */
  public Tensor mulInPlace(double s) {
    backend().scalar(ScalarOp.MUL, this, s, this);
    return this;
  }

  // ---------------------------------------------------------------- reductions

  private Tensor reduce(ReduceOp op, int[] axes, boolean keepDims) {
    int[] ax = Shape.axes(op.name().toLowerCase(java.util.Locale.ROOT), axes, shape.length);
    int[] kept = Shape.reduced(shape, ax, true);
    Tensor out = empty(dtype, kept);
    if (ax.length == 0) {
      backend().assign(this, out);
    } else {
      backend().reduce(op, this, ax, out);
    }
    return keepDims ? out : out.reshape(Shape.reduced(shape, ax, false));
  }

  /** Sum over {@code axes} (all axes if none given). */
  public Tensor sum(boolean keepDims, int... axes) {
    return reduce(ReduceOp.SUM, axes, keepDims);
  }

  /** Sum of all elements, as a rank-0 tensor. */
  public Tensor sum() {
    return reduce(ReduceOp.SUM, new int[0], false);
  }

  public Tensor mean(boolean keepDims, int... axes) {
    return reduce(ReduceOp.MEAN, axes, keepDims);
  }

  public Tensor mean() {
    return reduce(ReduceOp.MEAN, new int[0], false);
  }

  public Tensor max(boolean keepDims, int... axes) {
    return reduce(ReduceOp.MAX, axes, keepDims);
  }

  // ---------------------------------------------------------------- linear algebra

  /** Matrix product of the last two axes; rank 2, or rank 3 with equal batch sizes. */
  public Tensor matmul(Tensor b) {
    return matmul(b, false, false);
  }

  /**
   * op(this) @ op(b) where op transposes the last two axes if asked, without copying: the
   * transposes are passed down to BLAS.
   */
  public Tensor matmul(Tensor b, boolean transposeA, boolean transposeB) {
    requireSameDtype("matmul", b);
    if (rank() != b.rank() || rank() < 2 || rank() > 3) {
      throw new IllegalArgumentException("matmul: expected two tensors of rank 2 or two of rank 3, got "
          + Shape.str(shape) + " and " + Shape.str(b.shape));
    }
    int r = rank();
    int m = transposeA ? shape[r - 1] : shape[r - 2];
    int kA = transposeA ? shape[r - 2] : shape[r - 1];
    int kB = transposeB ? b.shape[r - 1] : b.shape[r - 2];
    int n = transposeB ? b.shape[r - 2] : b.shape[r - 1];
    if (kA != kB || (r == 3 && shape[0] != b.shape[0])) {
      throw new IllegalArgumentException("matmul: shapes " + Shape.str(shape)
          + (transposeA ? "ᵀ" : "") + " and " + Shape.str(b.shape) + (transposeB ? "ᵀ" : "")
          + " do not agree");
    }
    Tensor out = r == 2 ? empty(dtype, m, n) : empty(dtype, shape[0], m, n);
    backend().matmul(this, b, out, transposeA, transposeB);
    return out;
  }

  /**
   * The affine map this @ op(w) + bias: this (N, K), op(w) (K, M) where op transposes w (stored
   * (M, K)) if asked, bias (M) added to every row; (N, M). The same values as
   * {@code matmul(w, false, transposeW).add(bias)}, in one backend call (a GPU adds the bias in
   * the multiply's epilogue).
   */
  public Tensor linear(Tensor w, boolean transposeW, Tensor bias) {
    requireSameDtype("linear", w);
    requireSameDtype("linear", bias);
    int k = w.rank() == 2 ? w.shape[transposeW ? 1 : 0] : -1;
    int m = w.rank() == 2 ? w.shape[transposeW ? 0 : 1] : -1;
    if (rank() != 2 || w.rank() != 2 || bias.rank() != 1 || shape[1] != k || bias.shape[0] != m) {
      throw new IllegalArgumentException("linear: expected x (N, K), w " + (transposeW
          ? "(M, K)" : "(K, M)") + " and bias (M), got " + Shape.str(shape) + ", "
          + Shape.str(w.shape) + " and " + Shape.str(bias.shape));
    }
    Tensor out = empty(dtype, shape[0], m);
    backend().linear(this, w, transposeW, bias, out);
    return out;
  }

  // ---------------------------------------------------------------- softmax family

  /** Softmax over the last axis. */
  public Tensor softmax() {
    requireRank("softmax", 1);
    Tensor out = empty(dtype, shape);
    backend().softmax(contiguous(), out);
    return out;
  }

  /**
   * Log-softmax over the last axis, computed stably as (x - m) - log(sum(exp(x - m))) with m the
   * row maximum, so it stays finite for any finite logits (log(softmax(x)) would give -infinity
   * wherever exp(x - m) underflows).
   */
  public Tensor logSoftmax() {
    requireRank("logSoftmax", 1);
    Tensor out = empty(dtype, shape);
    backend().logSoftmax(this, out);
    return out;
  }

  private void requireRank(String op, int min) {
    if (rank() < min) {
      throw new IllegalArgumentException(
          op + ": needs rank >= " + min + ", got shape " + Shape.str(shape));
    }
  }

  // ---------------------------------------------------------------- gather / scatter

  /**
   * Rows of a (N, C) table selected by {@code ids}: the result has shape idsShape + [C]. This is
   * the embedding lookup.
   */
  public Tensor gatherRows(int[] ids, int... idsShape) {
    return gatherRows(backend().indices(ids), idsShape);
  }

  /** {@link #gatherRows(int[], int...)} with ids already in the backend's memory. */
  public Tensor gatherRows(Indices ids, int... idsShape) {
    if (rank() != 2) {
      throw new IllegalArgumentException("gatherRows: table must be (N, C), got " + Shape.str(shape));
    }
    checkIds("gatherRows", ids, idsShape, shape[0]);
    int C = shape[1];
    int[] s = Arrays.copyOf(idsShape, idsShape.length + 1);
    s[idsShape.length] = C;
    Tensor out = empty(dtype, s);
    backend().gatherRows(contiguous(), ids, out.reshape(ids.length(), C));
    return out;
  }

  /**
   * The reverse of {@link #gatherRows}: this (N, C) += rows of {@code src} (idsShape + [C]) added
   * at row {@code ids[i]}; repeated ids accumulate. In place; returns this.
   */
  public Tensor scatterAddRowsInPlace(int[] ids, Tensor src) {
    return scatterAddRowsInPlace(backend().indices(ids), src);
  }

  /** {@link #scatterAddRowsInPlace(int[], Tensor)} with ids already in the backend's memory. */
  public Tensor scatterAddRowsInPlace(Indices ids, Tensor src) {
    int n = ids.length();
    if (rank() != 2 || src.numel() != (long) n * shape[1]) {
      throw new IllegalArgumentException("scatterAddRows: table " + Shape.str(shape)
          + " and source " + Shape.str(src.shape) + " for " + n + " ids do not agree");
    }
    requireSameDtype("scatterAddRows", src);
    checkIds("scatterAddRows", ids, new int[] {n}, shape[0]);
    if (!backend().isContiguous(this)) {
      throw new IllegalArgumentException("scatterAddRows: target must be contiguous");
    }
    backend().scatterAddRows(src.contiguous().reshape(n, shape[1]), ids, this);
    return this;
  }

  /**
   * For each row of a (N, K) tensor, the element at column {@code idx[n]}: shape (N). Used to
   * pick the log-probability of each target token.
   */
  public Tensor pick(int[] idx) {
    return pick(backend().indices(idx));
  }

  /** {@link #pick(int[])} with the indices already in the backend's memory. */
  public Tensor pick(Indices idx) {
    return pick(idx, 1).reshape(shape[0]);
  }

  /**
   * J columns of each row of a (N, K) tensor: out[n, j] = this[n, idx[n*J + j]], shape (N, J)
   * (torch.gather along the last axis). Used to pick each position's top-K log-probabilities.
   */
  public Tensor pick(Indices idx, int J) {
    if (rank() != 2 || J < 1 || idx.length() != (long) shape[0] * J) {
      throw new IllegalArgumentException("pick: expected (N, K) and N*" + J + " indices, got "
          + Shape.str(shape) + " and " + idx.length() + " indices");
    }
    checkIds("pick", idx, new int[] {idx.length()}, shape[1]);
    Tensor out = empty(dtype, shape[0], J);
    backend().pick(contiguous(), idx, out);
    return out;
  }

  /**
   * The column ids of each row's K largest entries of a (N, V) tensor, largest first, equal
   * values by increasing id ({@link Backend#topK}); N*K ids in the backend's memory.
   */
  public Indices topK(int K) {
    if (rank() != 2 || K < 1 || K > shape[1]) {
      throw new IllegalArgumentException("topK: expected (N, V) and 1 <= K <= V, got "
          + Shape.str(shape) + " and K " + K);
    }
    return backend().topK(contiguous(), K);
  }

  /** Checks ids against their bound: computed ones by the bound they carry, others one by one. */
  private static void checkIds(String op, Indices ids, int[] idsShape, int bound) {
    if (ids.bound() >= 0 && ids.bound() <= bound) {
      if (Shape.numel(idsShape) != ids.length()) {
        throw new IllegalArgumentException(
            op + ": " + ids.length() + " ids do not fill shape " + Shape.str(idsShape));
      }
      return;
    }
    checkIds(op, ids.values(), idsShape, bound);
  }

  private static void checkIds(String op, int[] ids, int[] idsShape, int bound) {
    if (Shape.numel(idsShape) != ids.length) {
      throw new IllegalArgumentException(
          op + ": " + ids.length + " ids do not fill shape " + Shape.str(idsShape));
    }
    for (int i = 0; i < ids.length; i++) {
      if (ids[i] < 0 || ids[i] >= bound) {
        throw new IllegalArgumentException(
            op + ": id " + ids[i] + " at position " + i + " is outside [0, " + bound + ")");
      }
    }
  }

  // ---------------------------------------------------------------- comparison and printing

  /** True if every element is finite (no NaN or infinity). */
  public boolean isFinite() {
    return backend().isFinite(contiguous());
  }

  /** Largest |x| over all elements (NaN if any element is NaN). */
  public double maxAbs() {
    double m = 0;
    for (double x : toDoubleArray()) {
      if (Double.isNaN(x)) {
        return Double.NaN;
      }
      m = Math.max(m, Math.abs(x));
    }
    return m;
  }

  /** Largest |this - o| over all elements (same shapes). */
  public double maxAbsDiff(Tensor o) {
    if (!sameShape(o)) {
      throw new IllegalArgumentException(
          "maxAbsDiff: shapes " + Shape.str(shape) + " and " + Shape.str(o.shape) + " differ");
    }
    double[] a = toDoubleArray();
    double[] b = o.toDoubleArray();
    double m = 0;
    for (int i = 0; i < a.length; i++) {
      double d = Math.abs(a[i] - b[i]);
      if (Double.isNaN(d)) {
        return Double.NaN;
      }
      m = Math.max(m, d);
    }
    return m;
  }

  @Override
  public String toString() {
    StringBuilder sb = new StringBuilder("Tensor").append(Shape.str(shape)).append(' ').append(dtype);
    if (scope != null && scope.isClosed()) {
      return sb.append(" (released)").toString();
    }
    if (numel() <= 16) {
      sb.append(' ').append(Arrays.toString(toDoubleArray()));
    }
    return sb.toString();
  }
}
