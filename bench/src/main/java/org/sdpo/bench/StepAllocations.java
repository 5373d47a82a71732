package org.sdpo.bench;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.sdpo.autograd.F;
import org.sdpo.autograd.Variable;
import org.sdpo.tensor.DType;
import org.sdpo.tensor.MemoryStats;
import org.sdpo.tensor.Rng;
import org.sdpo.tensor.Tensor;
import org.sdpo.tensor.Workspace;

/**
 * Counts native allocations per steady-state training step of a one-block transformer (vocab 64,
 * T 64, C 128, 4 heads, batch 16) written directly with the autograd functions: embedding, layer
 * norm, fused QKV projection, causal attention, MLP with GELU, tied LM head, cross-entropy, SGD.
 * Prints, per step, the time, the tensor buffers the backend had to allocate (pool misses) and
 * the change in JavaCPP's count of live native allocations.
 *
 * <p>Run: {@code bench/run-main StepAllocations [steps]}.
 */
public final class StepAllocations {
  static final int B = 16;
  static final int T = 64;
  static final int C = 128;
  static final int H = 4;
  static final int V = 64;

  public static void main(String[] args) {
    int steps = args.length > 0 ? Integer.parseInt(args[0]) : 20;
    Rng rng = new Rng(1);
    DType f = DType.FLOAT32;
    List<Variable> params = new ArrayList<>();
    Variable wte = p(params, Tensor.normal(rng, f, 0, 0.02, V, C));
    Variable wpe = p(params, Tensor.normal(rng, f, 0, 0.02, T, C));
    Variable ln1g = p(params, Tensor.ones(f, C));
    Variable ln1b = p(params, Tensor.zeros(f, C));
    Variable wqkv = p(params, Tensor.normal(rng, f, 0, 0.02, C, 3 * C));
    Variable bqkv = p(params, Tensor.zeros(f, 3 * C));
    Variable wo = p(params, Tensor.normal(rng, f, 0, 0.02, C, C));
    Variable bo = p(params, Tensor.zeros(f, C));
    Variable ln2g = p(params, Tensor.ones(f, C));
    Variable ln2b = p(params, Tensor.zeros(f, C));
    Variable wfc = p(params, Tensor.normal(rng, f, 0, 0.02, C, 4 * C));
    Variable bfc = p(params, Tensor.zeros(f, 4 * C));
    Variable wproj = p(params, Tensor.normal(rng, f, 0, 0.02, 4 * C, C));
    Variable bproj = p(params, Tensor.zeros(f, C));
    Variable lnfg = p(params, Tensor.ones(f, C));
    Variable lnfb = p(params, Tensor.zeros(f, C));
    int[] ids = new int[B * T];
    int[] targets = new int[B * T];
    int[] pos = new int[B * T];
    for (int i = 0; i < ids.length; i++) {
      ids[i] = rng.nextInt(V);
      targets[i] = (ids[i] + 1) % V;
      pos[i] = i % T;
    }
    Workspace ws = new Workspace();
    System.out.println("step    ms   loss   tensor buffers allocated   javacpp live pointers (delta)");
    for (int step = 0; step < steps; step++) {
      long arrays0 = MemoryStats.arrays();
      long ptr0 = MemoryStats.nativePointers();
      long t0 = System.nanoTime();
      double loss;
      try (Workspace.Scope s = ws.enter()) {
        Variable x = F.add(F.embedding(wte, ids, B, T), F.embedding(wpe, pos, B, T)); // (B, T, C)
        Variable qkv = F.linear(F.layerNorm(x, ln1g, ln1b, 1e-5), wqkv, bqkv); // (B, T, 3C)
        Variable att = F.qkvAttention(qkv, H, true, null); // (B, T, C)
        x = F.add(x, F.linear(att, wo, bo));
        Variable h = F.gelu(F.linear(F.layerNorm(x, ln2g, ln2b, 1e-5), wfc, bfc));
        x = F.add(x, F.linear(h, wproj, bproj));
        Variable logits = F.matmul(F.reshape(F.layerNorm(x, lnfg, lnfb, 1e-5), B * T, C), wte,
            false, true); // (B*T, V), tied head
        Variable l = F.crossEntropy(logits, targets, -100);
        loss = l.value().item();
        l.backward();
        for (Variable p : params) {
          p.value().axpyInPlace(-0.1, p.grad());
          p.zeroGrad();
        }
      }
      double ms = (System.nanoTime() - t0) / 1e6;
      System.out.printf(Locale.ROOT, "%4d %6.1f %6.3f %12d %24d%n", step, ms, loss,
          MemoryStats.arrays() - arrays0, MemoryStats.nativePointers() - ptr0);
    }
    System.out.printf(Locale.ROOT, "workspace: %d buffers allocated in all, %d reuses%n",
        ws.allocations(), ws.reuses());
  }

  private static Variable p(List<Variable> params, Tensor t) {
    Variable v = Variable.param(t);
    params.add(v);
    return v;
  }
}
