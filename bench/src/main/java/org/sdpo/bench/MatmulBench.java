package org.sdpo.bench;

import java.util.concurrent.TimeUnit;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
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
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.DType;
import org.sdpo.tensor.Rng;
import org.sdpo.tensor.Tensor;
import org.sdpo.tensor.Workspace;

/**
 * Matmul forward + backward (C = A B, then dA = dC Bᵀ and dB = Aᵀ dC: 6 n³ flops) through the
 * autograd, against the same three raw ND4J calls into preallocated outputs.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"-Xms2g", "-Xmx2g", "-Dorg.bytedeco.javacpp.maxPhysicalBytes=0"})
public class MatmulBench {
  @Param({"64", "256", "1024"})
  int n;

  Variable a;
  Variable b;
  Tensor seed;
  Workspace ws;
  INDArray ra;
  INDArray rb;
  INDArray rc;
  INDArray rda;
  INDArray rdb;
  INDArray rg;

  @Setup(Level.Trial)
  public void setup() {
    Rng rng = new Rng(1);
    a = Variable.param(Tensor.normal(rng, DType.FLOAT32, 0, 1, n, n));
    b = Variable.param(Tensor.normal(rng, DType.FLOAT32, 0, 1, n, n));
    seed = Tensor.ones(DType.FLOAT32, n, n);
    ws = new Workspace();
    ra = Nd4j.rand(DataType.FLOAT, n, n);
    rb = Nd4j.rand(DataType.FLOAT, n, n);
    rc = Nd4j.create(DataType.FLOAT, n, n);
    rda = Nd4j.create(DataType.FLOAT, n, n);
    rdb = Nd4j.create(DataType.FLOAT, n, n);
    rg = Nd4j.ones(DataType.FLOAT, n, n);
  }

  @Benchmark
  public double autograd() {
    try (Workspace.Scope s = ws.enter()) {
      Variable c = F.matmul(a, b);
      c.backward(seed);
      double r = a.grad().get(0, 0);
      a.zeroGrad();
      b.zeroGrad();
      return r;
    }
  }

  @Benchmark
  public INDArray rawNd4j() {
    Nd4j.matmul(ra, rb, rc, false, false, false);
    Nd4j.matmul(rg, rb, rda, false, true, false);
    Nd4j.matmul(ra, rg, rdb, true, false, false);
    return rdb;
  }
}
