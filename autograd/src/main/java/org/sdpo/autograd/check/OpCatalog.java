package org.sdpo.autograd.check;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.Function;
import org.sdpo.autograd.Composed;
import org.sdpo.autograd.F;
import org.sdpo.autograd.Op;
import org.sdpo.autograd.Variable;
import org.sdpo.autograd.fused.Attention;
import org.sdpo.autograd.fused.Gelu;
import org.sdpo.autograd.fused.LayerNorm;
import org.sdpo.autograd.fused.Linear;
import org.sdpo.autograd.fused.LogSoftmax;
import org.sdpo.autograd.fused.QkvAttention;
import org.sdpo.autograd.fused.RmsNorm;
import org.sdpo.autograd.fused.Rope;
import org.sdpo.autograd.fused.Silu;
import org.sdpo.autograd.fused.Softmax;
import org.sdpo.autograd.fused.SoftmaxCrossEntropy;
import org.sdpo.autograd.ops.Abs;
import org.sdpo.autograd.ops.Add;
import org.sdpo.autograd.ops.BroadcastTo;
import org.sdpo.autograd.ops.Concat;
import org.sdpo.autograd.ops.Div;
import org.sdpo.autograd.ops.Dropout;
import org.sdpo.autograd.ops.Embedding;
import org.sdpo.autograd.ops.Exp;
import org.sdpo.autograd.ops.Log;
import org.sdpo.autograd.ops.Log1mExp;
import org.sdpo.autograd.ops.MatMul;
import org.sdpo.autograd.ops.Max;
import org.sdpo.autograd.ops.Mean;
import org.sdpo.autograd.ops.Mul;
import org.sdpo.autograd.ops.Neg;
import org.sdpo.autograd.ops.Permute;
import org.sdpo.autograd.ops.Pick;
import org.sdpo.autograd.ops.Pow;
import org.sdpo.autograd.ops.Relu;
import org.sdpo.autograd.ops.Reshape;
import org.sdpo.autograd.ops.Scale;
import org.sdpo.autograd.ops.Shift;
import org.sdpo.autograd.ops.Sigmoid;
import org.sdpo.autograd.ops.Slice;
import org.sdpo.autograd.ops.Sqrt;
import org.sdpo.autograd.ops.Sub;
import org.sdpo.autograd.ops.Sum;
import org.sdpo.autograd.ops.Tanh;
import org.sdpo.autograd.ops.Where;
import org.sdpo.tensor.DType;
import org.sdpo.tensor.Fused;
import org.sdpo.tensor.Rng;
import org.sdpo.tensor.Tensor;

/**
 * Every differentiable op of the project, with a generator of random float64 test inputs. The
 * gradient-check command, the property-based tests and the fused-vs-composed tests all iterate
 * over this list, and a test fails if an op class exists that is not registered here: a new op
 * is covered as soon as it is added.
 */
public final class OpCatalog {
  private OpCatalog() {}

  /** One concrete test input: a description of the shapes, the inputs and the function. */
  public record Instance(String shapes, Tensor[] inputs, Function<Variable[], Variable> f,
      Function<Variable[], Variable> composed) {}

  /** Makes an instance from a seeded generator and three small sizes (each 1..4). */
  public interface Generator {
    Instance make(Rng rng, int n0, int n1, int n2);
  }

  /** A registered op: its class, its name and its input generator. */
  public record Entry(Class<? extends Op> op, String name, boolean fused, Generator generator) {
    public Instance make(long seed, int n0, int n1, int n2) {
      return generator.make(new Rng(seed), n0, n1, n2);
    }
  }

  private static final DType D = DType.FLOAT64;
  private static final List<Entry> ALL = build();

  /** All registered ops, in a fixed order. */
  public static List<Entry> all() {
    return ALL;
  }

  /** The entry for one op name. */
  public static Entry get(String name) {
    for (Entry e : ALL) {
      if (e.name().equals(name)) {
        return e;
      }
    }
    throw new IllegalArgumentException("no registered op named '" + name + "'");
  }

  // ---------------------------------------------------------------- input helpers

  static Tensor normal(Rng rng, int... shape) {
    return Tensor.normal(rng, D, 0, 1, shape);
  }

  static Tensor positive(Rng rng, int... shape) {
    return Tensor.uniform(rng, D, 0.5, 2.0, shape);
  }

  /** Values in [-3, -0.05]: the domain of log1mexp, on both sides of -ln 2. */
  static Tensor negative(Rng rng, int... shape) {
    return Tensor.uniform(rng, D, -3.0, -0.05, shape);
  }

  /** Values with |x| in [0.2, 1.5]: away from the kinks of relu, abs and 1/x. */
  static Tensor awayFromZero(Rng rng, int... shape) {
    double[] d = new double[(int) org.sdpo.tensor.Shape.numel(shape)];
    for (int i = 0; i < d.length; i++) {
      d[i] = (rng.nextBoolean() ? 1 : -1) * (0.2 + 1.3 * rng.nextDouble());
    }
    return Tensor.of(D, d, shape);
  }

  /** A shape that broadcasts to {@code s}: some axes set to 1, maybe leading axes dropped. */
  static int[] partner(Rng rng, int[] s) {
    int drop = rng.nextInt(s.length);
    int[] p = Arrays.copyOfRange(s, drop, s.length);
    for (int i = 0; i < p.length; i++) {
      if (rng.nextBoolean()) {
        p[i] = 1;
      }
    }
    return p;
  }

  static String str(Tensor... ts) {
    StringBuilder sb = new StringBuilder();
    for (Tensor t : ts) {
      sb.append(sb.length() == 0 ? "" : " ").append(Arrays.toString(t.shape()));
    }
    return sb.toString();
  }

  private static Instance inst(Function<Variable[], Variable> f, Tensor... in) {
    return new Instance(str(in), in, f, null);
  }

  private static Instance twin(Function<Variable[], Variable> f, Function<Variable[], Variable> c,
      Tensor... in) {
    return new Instance(str(in), in, f, c);
  }

  // ---------------------------------------------------------------- the catalogue

  private static List<Entry> build() {
    List<Entry> l = new ArrayList<>();
    binary(l, Add.class, "add", false, F::add);
    binary(l, Sub.class, "sub", false, F::sub);
    binary(l, Mul.class, "mul", false, F::mul);
    binary(l, Div.class, "div", true, F::div);
    unary(l, Neg.class, "neg", OpCatalog::normal, F::neg);
    unary(l, Exp.class, "exp", OpCatalog::normal, F::exp);
    unary(l, Log.class, "log", OpCatalog::positive, F::log);
    unary(l, Tanh.class, "tanh", OpCatalog::normal, F::tanh);
    unary(l, Log1mExp.class, "log1mexp", OpCatalog::negative, F::log1mexp);
    unary(l, Sigmoid.class, "sigmoid", OpCatalog::normal, F::sigmoid);
    unary(l, Relu.class, "relu", OpCatalog::awayFromZero, F::relu);
    unary(l, Sqrt.class, "sqrt", OpCatalog::positive, F::sqrt);
    unary(l, Pow.class, "pow", OpCatalog::positive, x -> F.pow(x, 2.5));
    unary(l, Abs.class, "abs", OpCatalog::awayFromZero, F::abs);
    unary(l, Scale.class, "scale", OpCatalog::normal, x -> F.scale(x, -1.7));
    unary(l, Shift.class, "shift", OpCatalog::normal, x -> F.shift(x, 0.3));
    l.add(new Entry(MatMul.class, "matmul", false, (rng, n0, n1, n2) -> {
      boolean ta = rng.nextBoolean();
      boolean tb = rng.nextBoolean();
      boolean batched = rng.nextBoolean();
      int b = 1 + rng.nextInt(2);
      int[] as = ta ? new int[] {n1, n0} : new int[] {n0, n1};
      int[] bs = tb ? new int[] {n2, n1} : new int[] {n1, n2};
      if (batched) {
        as = new int[] {b, as[0], as[1]};
        bs = new int[] {b, bs[0], bs[1]};
      }
      return inst(v -> F.matmul(v[0], v[1], ta, tb), normal(rng, as), normal(rng, bs));
    }));
    reduction(l, Sum.class, "sum", (x, keep, axes) -> F.sum(x, keep, axes));
    reduction(l, Mean.class, "mean", (x, keep, axes) -> F.mean(x, keep, axes));
    reduction(l, Max.class, "max", (x, keep, axes) -> F.max(x, keep, axes));
    l.add(new Entry(Reshape.class, "reshape", false, (rng, n0, n1, n2) ->
        inst(v -> F.reshape(v[0], -1, n0 * n2), normal(rng, n0, n1, n2))));
    l.add(new Entry(Permute.class, "permute", false, (rng, n0, n1, n2) -> {
      int[][] perms = {{0, 2, 1}, {1, 0, 2}, {2, 0, 1}, {1, 2, 0}, {2, 1, 0}};
      int[] p = perms[rng.nextInt(perms.length)];
      return inst(v -> F.permute(v[0], p), normal(rng, n0, n1, n2));
    }));
    l.add(new Entry(Slice.class, "slice", false, (rng, n0, n1, n2) -> {
      int[] s = {n0 + 1, n1, n2};
      int axis = rng.nextInt(3);
      int start = rng.nextInt(s[axis]);
      int end = start + 1 + rng.nextInt(s[axis] - start);
      return inst(v -> F.slice(v[0], axis, start, end), normal(rng, s));
    }));
    l.add(new Entry(Concat.class, "concat", false, (rng, n0, n1, n2) -> {
      int axis = rng.nextInt(3);
      int[] s1 = {n0, n1, n2};
      int[] s2 = s1.clone();
      s2[axis] = 1 + rng.nextInt(3);
      return inst(v -> F.concat(axis, v[0], v[1]), normal(rng, s1), normal(rng, s2));
    }));
    l.add(new Entry(BroadcastTo.class, "broadcast_to", false, (rng, n0, n1, n2) -> {
      int[] target = {n0, n1, n2};
      return inst(v -> F.broadcastTo(v[0], target), normal(rng, partner(rng, target)));
    }));
    l.add(new Entry(Embedding.class, "embedding", false, (rng, n0, n1, n2) -> {
      int rows = n0 + 2;
      int[] ids = new int[n2 * 2];
      for (int i = 0; i < ids.length; i++) {
        ids[i] = rng.nextInt(rows);
      }
      return inst(v -> F.embedding(v[0], ids, n2, 2), normal(rng, rows, n1));
    }));
    l.add(new Entry(Pick.class, "pick", false, (rng, n0, n1, n2) -> {
      int[] idx = new int[n0];
      for (int i = 0; i < n0; i++) {
        idx[i] = rng.nextInt(n1 + 1);
      }
      return inst(v -> F.pick(v[0], idx), normal(rng, n0, n1 + 1));
    }));
    l.add(new Entry(Pick.class, "pick_columns", false, (rng, n0, n1, n2) -> {
      int J = 1 + rng.nextInt(3);
      int[] idx = new int[n0 * J];
      for (int i = 0; i < idx.length; i++) {
        idx[i] = rng.nextInt(Math.min(n1 + 1, 2)); // repeats within a row
      }
      return inst(v -> F.pick(v[0], org.sdpo.tensor.Backends.current().indices(idx), J),
          normal(rng, n0, n1 + 1));
    }));
    l.add(new Entry(Where.class, "where", false, (rng, n0, n1, n2) -> {
      double[] c = new double[n0 * n1];
      for (int i = 0; i < c.length; i++) {
        c[i] = rng.nextBoolean() ? 1 : 0;
      }
      Tensor cond = Tensor.of(D, c, n0, n1);
      return inst(v -> F.where(cond, v[0], v[1]), normal(rng, n0, n1), normal(rng, n1));
    }));
    l.add(new Entry(Dropout.class, "dropout", false, (rng, n0, n1, n2) -> {
      long seed = rng.nextLong();
      return inst(v -> F.dropout(v[0], 0.3, new Rng(seed)), normal(rng, n0, n1, n2));
    }));
    // fused ops, each with its composed twin
    l.add(new Entry(Softmax.class, "softmax", true, (rng, n0, n1, n2) ->
        twin(v -> F.softmax(v[0]), v -> Composed.softmax(v[0]), normal(rng, n0, n1, n2 + 1))));
    l.add(new Entry(LogSoftmax.class, "log_softmax", true, (rng, n0, n1, n2) ->
        twin(v -> F.logSoftmax(v[0]), v -> Composed.logSoftmax(v[0]),
            normal(rng, n0, n1, n2 + 1))));
    l.add(new Entry(SoftmaxCrossEntropy.class, "cross_entropy", true, (rng, n0, n1, n2) -> {
      int V = n2 + 2;
      int[] t = new int[n0 * n1];
      for (int i = 0; i < t.length; i++) {
        t[i] = rng.nextInt(4) == 0 ? -100 : rng.nextInt(V);
      }
      return twin(v -> F.crossEntropy(v[0], t, -100), v -> Composed.crossEntropy(v[0], t, -100),
          normal(rng, n0, n1, V).mul(2));
    }));
    l.add(new Entry(LayerNorm.class, "layer_norm", true, (rng, n0, n1, n2) -> {
      int C = n2 + 1;
      return twin(v -> F.layerNorm(v[0], v[1], v[2], 1e-5),
          v -> Composed.layerNorm(v[0], v[1], v[2], 1e-5),
          normal(rng, n0, n1, C), normal(rng, C), normal(rng, C));
    }));
    l.add(new Entry(Linear.class, "linear", true, (rng, n0, n1, n2) -> {
      boolean tw = rng.nextBoolean(); // W stored (out, in), as nn.Linear stores it
      int[] ws = tw ? new int[] {n2 + 1, n1} : new int[] {n1, n2 + 1};
      return twin(v -> Linear.apply(v[0], v[1], tw, v[2]),
          v -> Composed.linear(v[0], v[1], tw, v[2]),
          normal(rng, n0, n1), normal(rng, ws), normal(rng, n2 + 1));
    }));
    l.add(new Entry(Gelu.class, "gelu", true, (rng, n0, n1, n2) ->
        twin(v -> F.gelu(v[0]), v -> Composed.gelu(v[0]), normal(rng, n0, n1, n2).mul(2))));
    l.add(new Entry(RmsNorm.class, "rms_norm", true, (rng, n0, n1, n2) -> {
      int C = n2 + 1;
      return twin(v -> F.rmsNorm(v[0], v[1], 1e-6), v -> Composed.rmsNorm(v[0], v[1], 1e-6),
          normal(rng, n0, n1, C), normal(rng, C));
    }));
    l.add(new Entry(Silu.class, "silu", true, (rng, n0, n1, n2) ->
        twin(v -> F.silu(v[0]), v -> Composed.silu(v[0]), normal(rng, n0, n1, n2).mul(3))));
    l.add(new Entry(Rope.class, "rope", true, (rng, n0, n1, n2) -> {
      int B = 1 + (n0 - 1) % 2;
      int T = n1;
      int half = n2;
      double[] angle = normal(rng, B, T, half).mul(3).toDoubleArray(); // any angles will do
      double[] c = new double[angle.length];
      double[] sn = new double[angle.length];
      for (int i = 0; i < angle.length; i++) {
        c[i] = Math.cos(angle[i]);
        sn[i] = Math.sin(angle[i]);
      }
      Tensor cos = Tensor.of(D, c, B, T, half);
      Tensor sin = Tensor.of(D, sn, B, T, half);
      return twin(v -> F.rope(v[0], cos, sin), v -> Composed.rope(v[0], cos, sin),
          normal(rng, B, 1 + rng.nextInt(3), T, 2 * half));
    }));
    l.add(new Entry(Attention.class, "attention", true, (rng, n0, n1, n2) -> {
      int B = 1 + (n0 - 1) % 2;
      int Hkv = 1 + rng.nextInt(2);
      int H = Hkv * (1 + rng.nextInt(3)); // grouped-query attention when H > Hkv
      int Tk = n1 + 1;
      int Tq = rng.nextBoolean() ? Tk : 1;
      int Dh = n2 + 1;
      boolean causal = rng.nextBoolean();
      Tensor km = rng.nextBoolean() ? rightPadding(rng, B, Tk) : null;
      int offset = rng.nextInt(Tk - Tq + 1); // where the queries sit among the keys
      return twin(v -> F.attention(v[0], v[1], v[2], causal, km, offset),
          v -> Composed.attention(v[0], v[1], v[2], causal, km, offset),
          normal(rng, B, H, Tq, Dh), normal(rng, B, Hkv, Tk, Dh), normal(rng, B, Hkv, Tk, Dh));
    }));
    l.add(new Entry(QkvAttention.class, "qkv_attention", true, (rng, n0, n1, n2) -> {
      int B = 1 + (n0 - 1) % 2;
      int H = 1 + rng.nextInt(3);
      int T = n1 + 1;
      int Dh = n2;
      boolean causal = rng.nextBoolean();
      Tensor mask = rng.nextBoolean() ? rightPadding(rng, B, T) : null;
      return twin(v -> F.qkvAttention(v[0], H, causal, mask),
          v -> Composed.qkvAttention(v[0], H, causal, mask), normal(rng, B, T, 3 * H * Dh));
    }));
    // the same two ops in their flash form (lse kept, P recomputed by the backward), which the
    // CUDA backend takes: every instance of the entries above, with the form forced
    for (Entry e : List.copyOf(l.subList(l.size() - 2, l.size()))) {
      l.add(new Entry(e.op(), e.name() + "_flash", true, (rng, n0, n1, n2) -> {
        Instance i = e.generator().make(rng, n0, n1, n2);
        return new Instance(i.shapes(), i.inputs(), v -> flash(() -> i.f().apply(v)),
            i.composed());
      }));
    }
    return List.copyOf(l);
  }

  /** {@code f} with attention in its flash form ({@link Fused#attentionPath}). */
  private static Variable flash(java.util.function.Supplier<Variable> f) {
    Fused.AttentionPath old = Fused.attentionPath(Fused.AttentionPath.FLASH);
    try {
      return f.get();
    } finally {
      Fused.attentionPath(old);
    }
  }

  /**
   * A key mask (B, T) of right padding, float64: each row has 1 to T real tokens, then pads (0).
   */
  public static Tensor rightPadding(Rng rng, int B, int T) {
    double[] m = new double[B * T];
    for (int b = 0; b < B; b++) {
      int real = 1 + rng.nextInt(T);
      for (int j = 0; j < T; j++) {
        m[b * T + j] = j < real ? 1 : 0;
      }
    }
    return Tensor.of(D, m, B, T);
  }

  private interface Binary {
    Variable apply(Variable a, Variable b);
  }

  private interface Unary {
    Variable apply(Variable x);
  }

  private interface Input {
    Tensor make(Rng rng, int... shape);
  }

  private interface Reduction {
    Variable apply(Variable x, boolean keep, int[] axes);
  }

  private static void binary(List<Entry> l, Class<? extends Op> c, String name, boolean safeB,
      Binary f) {
    l.add(new Entry(c, name, false, (rng, n0, n1, n2) -> {
      int[] s = {n0, n1, n2};
      int[] p = partner(rng, s);
      boolean swap = rng.nextBoolean() && !safeB;
      Tensor a = normal(rng, swap ? p : s);
      Tensor b = safeB ? awayFromZero(rng, p) : normal(rng, swap ? s : p);
      return inst(v -> f.apply(v[0], v[1]), a, b);
    }));
  }

  private static void unary(List<Entry> l, Class<? extends Op> c, String name, Input in, Unary f) {
    l.add(new Entry(c, name, false, (rng, n0, n1, n2) ->
        inst(v -> f.apply(v[0]), in.make(rng, n0, n1, n2))));
  }

  private static void reduction(List<Entry> l, Class<? extends Op> c, String name, Reduction f) {
    l.add(new Entry(c, name, false, (rng, n0, n1, n2) -> {
      int[][] choices = {{}, {0}, {1}, {2}, {0, 2}, {-1}, {1, 2}};
      int[] axes = choices[rng.nextInt(choices.length)];
      boolean keep = rng.nextBoolean();
      Tensor x = normal(rng, n0, n1, n2);
      return new Instance(str(x) + " axes " + Arrays.toString(axes) + (keep ? " keepdims" : ""),
          new Tensor[] {x}, v -> f.apply(v[0], keep, axes), null);
    }));
  }
}
