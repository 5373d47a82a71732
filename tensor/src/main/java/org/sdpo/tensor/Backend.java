package org.sdpo.tensor;

/**
 * The kernels a tensor backend provides. {@link Tensor} validates every argument (shapes, dtypes,
 * axes) and then calls exactly one of these methods, so an implementation may assume its inputs
 * are consistent. Outputs are always passed in, preallocated: a backend never allocates a result
 * on its own, which is what lets a training step run without new native memory.
 *
 * <p>The default implementation is {@link Nd4jBackend}; a GPU backend would implement this same
 * interface, and nothing above the tensor layer would change.
 */
public interface Backend {

  /** Elementwise binary operations with numpy broadcasting. */
  enum BinaryOp {
    ADD,
    SUB,
    MUL,
    DIV,
    /** 1 where a &gt; b, else 0. */
    GREATER,
    /** max(a, b). */
    MAX
  }

  /** Elementwise unary operations. */
  enum UnaryOp {
    NEG,
    EXP,
    LOG,
    TANH,
    SIGMOID,
    SQRT,
    ABS,
    RELU,
    SQUARE,
    RECIPROCAL,
    /** 1 where x &gt; 0, else 0 (the derivative of relu). */
    STEP
  }

  /** Elementwise operations with one scalar operand. */
  enum ScalarOp {
    ADD,
    MUL,
    POW,
    /** s - x. */
    RSUB,
    /** s / x. */
    RDIV
  }

  /** Reductions over a set of axes. */
  enum ReduceOp {
    SUM,
    MEAN,
    MAX
  }

  /** A human-readable description, logged at start-up (backend, device, BLAS). */
  String description();

  /** New uninitialised, contiguous row-major memory. */
  Storage allocate(DType dtype, int[] shape);

  /** New memory holding a copy of {@code data} (row-major), converted to {@code dtype}. */
  Storage fromDoubles(double[] data, DType dtype, int[] shape);

  /** New memory holding a copy of {@code data} (row-major), converted to {@code dtype}. */
  Storage fromFloats(float[] data, DType dtype, int[] shape);

  /** The elements of {@code t} in row-major order. */
  double[] toDoubles(Tensor t);

  /** The elements of {@code t} in row-major order, as floats. */
  float[] toFloats(Tensor t);

  /** One element by its row-major index. */
  double get(Tensor t, long flatIndex);

  /** Sets one element by its row-major index. */
  void set(Tensor t, long flatIndex, double value);

  /** Element access for Java kernels; {@code t} must be contiguous (see {@link #isContiguous}). */
  Buf buffer(Tensor t);

  /** True if the tensor's elements lie in row-major order with no gaps. */
  boolean isContiguous(Tensor t);

  /** A view with another shape (same number of elements); {@code t} must be contiguous. */
  Storage reshape(Tensor t, int[] shape);

  /** A view with permuted axes. */
  Storage permute(Tensor t, int[] axes);

  /** A view of {@code [start, end)} along {@code axis}. */
  Storage slice(Tensor t, int axis, int start, int end);

  /** out = src, broadcasting src to out's shape and converting dtype. */
  void assign(Tensor src, Tensor out);

  /** Every element of out = value. */
  void fill(Tensor out, double value);

  /** out = a op b, with numpy broadcasting; out has the broadcast shape. */
  void binary(BinaryOp op, Tensor a, Tensor b, Tensor out);

  /** out = op(a). */
  void unary(UnaryOp op, Tensor a, Tensor out);

  /** out = a op s. */
  void scalar(ScalarOp op, Tensor a, double s, Tensor out);

  /** y += alpha * x (same shapes); the one sanctioned in-place accumulation. */
  void axpy(double alpha, Tensor x, Tensor y);

  /**
   * out = op(a) @ op(b), where op transposes the last two axes when asked. Rank 2, or rank 3 with
   * equal batch dimensions.
   */
  void matmul(Tensor a, Tensor b, Tensor out, boolean transposeA, boolean transposeB);

  /** out = reduce over {@code axes} (sorted); out has the keep-dims shape. */
  void reduce(ReduceOp op, Tensor a, int[] axes, Tensor out);

  /** Softmax over the last axis. */
  void softmax(Tensor a, Tensor out);

  /** out = cond != 0 ? a : b (same shapes). */
  void where(Tensor cond, Tensor a, Tensor b, Tensor out);

  /** Concatenates {@code parts} along {@code axis} into out. */
  void concat(int axis, Tensor[] parts, Tensor out);
}
