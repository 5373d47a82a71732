package org.sdpo.bench;

import java.util.concurrent.TimeUnit;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.transforms.pairwise.arithmetic.AddOp;
import org.nd4j.linalg.factory.Nd4j;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;
import org.sdpo.autograd.F;
import org.sdpo.autograd.Grad;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.DType;
import org.sdpo.tensor.Tensor;
import org.sdpo.tensor.Workspace;

/**
 * The cost of one elementwise add at every layer: the raw ND4J op into a preallocated output, the
 * same op allocating its result, {@code Tensor.add} (output from the workspace pool), and the
 * autograd {@code F.add} with and without recording the graph, and with its backward.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"-Xms2g", "-Xmx2g", "-Dorg.bytedeco.javacpp.maxPhysicalBytes=0"})
public class OpOverheadBench {
  @Param({"64", "65536"})
  int size;

  INDArray rx;
  INDArray ry;
  INDArray rz;
  Tensor x;
  Tensor y;
  Variable vx;
  Variable vy;
  Tensor seed;
  Workspace ws;

  @Setup(Level.Trial)
  public void setup() {
    rx = Nd4j.rand(DataType.FLOAT, size);
    ry = Nd4j.rand(DataType.FLOAT, size);
    rz = Nd4j.create(DataType.FLOAT, size);
    x = Tensor.ones(DType.FLOAT32, size);
    y = Tensor.ones(DType.FLOAT32, size);
    vx = Variable.param(x);
    vy = Variable.param(y);
    seed = Tensor.ones(DType.FLOAT32, size);
    ws = new Workspace();
  }

  @Benchmark
  public INDArray nd4jIntoPreallocated() {
    Nd4j.exec(new AddOp(new INDArray[] {rx, ry}, new INDArray[] {rz}));
    return rz;
  }

  @Benchmark
  public INDArray nd4jAllocating() {
    return rx.add(ry);
  }

  @Benchmark
  public double tensorAddInWorkspace() {
    try (Workspace.Scope s = ws.enter()) {
      return x.add(y).numel();
    }
  }

  @Benchmark
  public double autogradAddNoGrad() {
    try (Workspace.Scope s = ws.enter(); Grad.Scope g = Grad.disabled()) {
      return F.add(vx, vy).value().numel();
    }
  }

  @Benchmark
  public double autogradAddRecorded() {
    try (Workspace.Scope s = ws.enter()) {
      return F.add(vx, vy).value().numel();
    }
  }

  @Benchmark
  public void autogradAddForwardBackward() {
    try (Workspace.Scope s = ws.enter()) {
      F.add(vx, vy).backward(seed);
      vx.zeroGrad();
      vy.zeroGrad();
    }
  }
}
