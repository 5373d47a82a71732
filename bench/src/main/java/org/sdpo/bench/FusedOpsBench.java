package org.sdpo.bench;

import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;
import org.sdpo.autograd.Composed;
import org.sdpo.autograd.F;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.DType;
import org.sdpo.tensor.Rng;
import org.sdpo.tensor.Tensor;
import org.sdpo.tensor.Workspace;

/**
 * Forward + backward of the fused ops at GPT-sized shapes (float32), each next to its composed
 * twin: attention at (B*H = 16*4 = 64, T = 64, D = 32) with a causal mask; layer norm over
 * (16*64, 128); softmax cross-entropy over (16*64, V) for V = 64 and 1024.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"-Xms2g", "-Xmx2g", "-Dorg.bytedeco.javacpp.maxPhysicalBytes=0"})
public class FusedOpsBench {
  static final DType F32 = DType.FLOAT32;

  Workspace ws;
  Variable q;
  Variable k;
  Variable v;
  Tensor attnSeed;
  Variable x;
  Variable gamma;
  Variable beta;
  Tensor lnSeed;
  Variable logits64;
  Variable logits1024;
  int[] targets64;
  int[] targets1024;

  @Setup(Level.Trial)
  public void setup() {
    Rng rng = new Rng(1);
    ws = new Workspace();
    q = Variable.param(Tensor.normal(rng, F32, 0, 1, 16, 4, 64, 32));
    k = Variable.param(Tensor.normal(rng, F32, 0, 1, 16, 4, 64, 32));
    v = Variable.param(Tensor.normal(rng, F32, 0, 1, 16, 4, 64, 32));
    attnSeed = Tensor.normal(rng, F32, 0, 1, 16, 4, 64, 32);
    x = Variable.param(Tensor.normal(rng, F32, 0, 1, 1024, 128));
    gamma = Variable.param(Tensor.ones(F32, 128));
    beta = Variable.param(Tensor.zeros(F32, 128));
    lnSeed = Tensor.normal(rng, F32, 0, 1, 1024, 128);
    logits64 = Variable.param(Tensor.normal(rng, F32, 0, 1, 1024, 64));
    logits1024 = Variable.param(Tensor.normal(rng, F32, 0, 1, 1024, 1024));
    targets64 = new int[1024];
    targets1024 = new int[1024];
    for (int i = 0; i < 1024; i++) {
      targets64[i] = rng.nextInt(64);
      targets1024[i] = rng.nextInt(1024);
    }
  }

  private static void clear(Variable... vs) {
    for (Variable p : vs) {
      p.zeroGrad();
    }
  }

  @Benchmark
  public void attentionFused() {
    try (Workspace.Scope s = ws.enter()) {
      F.attention(q, k, v, true, null).backward(attnSeed);
      clear(q, k, v);
    }
  }

  @Benchmark
  public void attentionComposed() {
    try (Workspace.Scope s = ws.enter()) {
      Composed.attention(q, k, v, true, null).backward(attnSeed);
      clear(q, k, v);
    }
  }

  @Benchmark
  public void layerNormFused() {
    try (Workspace.Scope s = ws.enter()) {
      F.layerNorm(x, gamma, beta, 1e-5).backward(lnSeed);
      clear(x, gamma, beta);
    }
  }

  @Benchmark
  public void layerNormComposed() {
    try (Workspace.Scope s = ws.enter()) {
      Composed.layerNorm(x, gamma, beta, 1e-5).backward(lnSeed);
      clear(x, gamma, beta);
    }
  }

  @Benchmark
  public void crossEntropyFusedV64() {
    try (Workspace.Scope s = ws.enter()) {
      F.crossEntropy(logits64, targets64, -100).backward();
      clear(logits64);
    }
  }

  @Benchmark
  public void crossEntropyComposedV64() {
    try (Workspace.Scope s = ws.enter()) {
      Composed.crossEntropy(logits64, targets64, -100).backward();
      clear(logits64);
    }
  }

  @Benchmark
  public void crossEntropyFusedV1024() {
    try (Workspace.Scope s = ws.enter()) {
      F.crossEntropy(logits1024, targets1024, -100).backward();
      clear(logits1024);
    }
  }
}
