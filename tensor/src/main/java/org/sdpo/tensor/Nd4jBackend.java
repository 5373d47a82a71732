package org.sdpo.tensor;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.reduce.floating.Mean;
import org.nd4j.linalg.api.ops.impl.reduce.same.Max;
import org.nd4j.linalg.api.ops.impl.reduce.same.Sum;
import org.nd4j.linalg.api.ops.impl.scalar.Pow;
import org.nd4j.linalg.api.ops.impl.transforms.custom.SoftMax;
import org.nd4j.linalg.api.ops.impl.transforms.floating.Sqrt;
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
 * <p>Which kernel runs where: matrix products, reductions, softmax and the transcendental
 * functions (exp, log, tanh, sigmoid, sqrt, pow) are ND4J calls into preallocated outputs;
 * broadcasting arithmetic is an ND4J custom op; cheap same-shape arithmetic (scalar add/mul,
 * relu, where, axpy) is a plain Java loop over the native memory, which costs nothing per call,
 * whereas every ND4J call costs about 1-5 µs.
 */
public final class Nd4jBackend implements Backend {

  /** ND4J's array behind a tensor. */
  record Nd4jStorage(INDArray array) implements Storage {}

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
      blas = ", BLAS " + Nd4j.factory().blas().getBlasVendor();
    } catch (RuntimeException e) {
      // not every backend reports a vendor
    }
    return "ND4J " + name + blas + ", " + Nd4j.getEnvironment().maxThreads() + " threads";
  }

  @Override
  public Storage allocate(DType dtype, int[] shape) {
    return wrap(Nd4j.createUninitialized(type(dtype), Shape.toLong(shape), 'c'));
  }

  @Override
  public Storage fromDoubles(double[] data, DType dtype, int[] shape) {
    INDArray a = Nd4j.createUninitialized(type(dtype), Shape.toLong(shape), 'c');
    Buf b = bufferOf(a, dtype);
    for (int i = 0; i < data.length; i++) {
      b.set(i, data[i]);
    }
    return wrap(a);
  }

  @Override
  public Storage fromFloats(float[] data, DType dtype, int[] shape) {
    INDArray a = Nd4j.createUninitialized(type(dtype), Shape.toLong(shape), 'c');
    Buf b = bufferOf(a, dtype);
    for (int i = 0; i < data.length; i++) {
      b.set(i, data[i]);
    }
    return wrap(a);
  }

  @Override
  public double[] toDoubles(Tensor t) {
    Buf b = buffer(t.contiguous());
    double[] d = new double[b.size()];
    for (int i = 0; i < d.length; i++) {
      d[i] = b.get(i);
    }
    return d;
  }

  @Override
  public float[] toFloats(Tensor t) {
    Buf b = buffer(t.contiguous());
    float[] d = new float[b.size()];
    for (int i = 0; i < d.length; i++) {
      d[i] = (float) b.get(i);
    }
    return d;
  }

  @Override
  public double get(Tensor t, long flatIndex) {
    if (isContiguous(t)) {
      return buffer(t).get((int) flatIndex);
    }
    return arr(t).getDouble(flatIndex);
  }

  @Override
  public void set(Tensor t, long flatIndex, double value) {
    if (!isContiguous(t)) {
      throw new IllegalArgumentException("set: tensor view is not contiguous");
    }
    buffer(t).set((int) flatIndex, value);
  }

  @Override
  public Buf buffer(Tensor t) {
    if (!isContiguous(t)) {
      throw new IllegalStateException("buffer: tensor " + Shape.str(t.shape()) + " is a strided view");
    }
    return bufferOf(arr(t), t.dtype());
  }

  private static Buf bufferOf(INDArray a, DType dtype) {
    int off = (int) a.offset();
    int n = (int) a.length();
    return dtype == DType.FLOAT32
        ? Buf.of(a.data().asNioFloat(), off, n)
        : Buf.of(a.data().asNioDouble(), off, n);
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
    if (shape.length == 0) {
      return wrap(a.reshape('c', new long[0]));
    }
    return wrap(a.reshape('c', Shape.toLong(shape)));
  }

  @Override
  public Storage permute(Tensor t, int[] axes) {
    return wrap(arr(t).permute(axes));
  }

  @Override
  public Storage slice(Tensor t, int axis, int start, int end) {
    INDArray a = arr(t);
    INDArrayIndex[] idx = new INDArrayIndex[a.rank()];
    for (int i = 0; i < idx.length; i++) {
      idx[i] = i == axis ? NDArrayIndex.interval(start, end) : NDArrayIndex.all();
    }
    return wrap(a.get(idx));
  }

  @Override
  public void assign(Tensor src, Tensor out) {
    INDArray s = arr(src);
    INDArray o = arr(out);
    if (src.dtype() != out.dtype()) {
      s = s.castTo(o.dataType());
    }
    if (src.rank() == 0 || src.numel() == 1) {
      o.assign(s.getDouble(0));
    } else if (src.sameShape(out)) {
      o.assign(s);
    } else {
      // broadcast: x + 0 with numpy semantics, into out
      o.assign(0.0);
      Nd4j.exec(new AddOp(new INDArray[] {o, s}, new INDArray[] {o}));
    }
  }

  @Override
  public void fill(Tensor out, double value) {
    arr(out).assign(value);
  }

  @Override
  public void binary(BinaryOp op, Tensor a, Tensor b, Tensor out) {
    if (op == BinaryOp.GREATER || op == BinaryOp.MAX) {
      javaBinary(op, a, b, out);
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
  }

  private void javaBinary(BinaryOp op, Tensor a, Tensor b, Tensor out) {
    int[] s = out.shape();
    Tensor ea = a.sameShape(out) ? a : a.broadcastTo(s);
    Tensor eb = b.sameShape(out) ? b : b.broadcastTo(s);
    Buf x = ea.buffer();
    Buf y = eb.buffer();
    Buf z = buffer(out);
    for (int i = 0, n = z.size(); i < n; i++) {
      double u = x.get(i);
      double v = y.get(i);
      z.set(i, op == BinaryOp.GREATER ? (u > v ? 1 : 0) : Math.max(u, v));
    }
  }

  @Override
  public void unary(UnaryOp op, Tensor a, Tensor out) {
    INDArray x = arr(a);
    INDArray z = arr(out);
    switch (op) {
      case EXP:
        Nd4j.exec(new Exp(x, z));
        return;
      case LOG:
        Nd4j.exec(new Log(x, z));
        return;
      case TANH:
        Nd4j.exec(new Tanh(x, z));
        return;
      case SIGMOID:
        Nd4j.exec(new Sigmoid(x, z));
        return;
      case SQRT:
        Nd4j.exec(new Sqrt(x, z));
        return;
      default:
        break;
    }
    Buf in = a.buffer();
    Buf o = buffer(out);
    for (int i = 0, n = o.size(); i < n; i++) {
      double v = in.get(i);
      double r;
      switch (op) {
        case NEG:
          r = -v;
          break;
        case ABS:
          r = Math.abs(v);
          break;
        case RELU:
          r = v > 0 ? v : 0;
          break;
        case SQUARE:
          r = v * v;
          break;
        case RECIPROCAL:
          r = 1 / v;
          break;
        case STEP:
          r = v > 0 ? 1 : 0;
          break;
        default:
          throw new AssertionError(op);
      }
      o.set(i, r);
    }
  }

  @Override
  public void scalar(ScalarOp op, Tensor a, double s, Tensor out) {
    if (op == ScalarOp.POW) {
      Nd4j.exec(new Pow(arr(a), arr(out), s));
      return;
    }
    Buf in = a.buffer();
    Buf o = buffer(out);
    for (int i = 0, n = o.size(); i < n; i++) {
      double v = in.get(i);
      double r;
      switch (op) {
        case ADD:
          r = v + s;
          break;
        case MUL:
          r = v * s;
          break;
        case RSUB:
          r = s - v;
          break;
        case RDIV:
          r = s / v;
          break;
        default:
          throw new AssertionError(op);
      }
      o.set(i, r);
    }
  }

  @Override
  public void axpy(double alpha, Tensor x, Tensor y) {
    Buf in = x.buffer();
    Buf o = buffer(y);
    for (int i = 0, n = o.size(); i < n; i++) {
      o.set(i, o.get(i) + alpha * in.get(i));
    }
  }

  @Override
  public void matmul(Tensor a, Tensor b, Tensor out, boolean transposeA, boolean transposeB) {
    Nd4j.matmul(arr(a), arr(b), arr(out), transposeA, transposeB, false);
  }

  @Override
  public void reduce(ReduceOp op, Tensor a, int[] axes, Tensor out) {
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
  }

  @Override
  public void softmax(Tensor a, Tensor out) {
    Nd4j.exec(new SoftMax(arr(a), arr(out), a.rank() - 1));
  }

  @Override
  public void where(Tensor cond, Tensor a, Tensor b, Tensor out) {
    Buf c = cond.buffer();
    Buf x = a.buffer();
    Buf y = b.buffer();
    Buf o = buffer(out);
    for (int i = 0, n = o.size(); i < n; i++) {
      o.set(i, c.get(i) != 0 ? x.get(i) : y.get(i));
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
}
