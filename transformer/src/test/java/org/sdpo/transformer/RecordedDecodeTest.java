package org.sdpo.transformer;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.sdpo.tensor.Backend;
import org.sdpo.tensor.Backends;
import org.sdpo.tensor.DType;
import org.sdpo.tensor.Rng;
import org.sdpo.tensor.cuda.CudaBackend;
import org.sdpo.tensor.cuda.CudaDriver;
import org.sdpo.tensor.cuda.KernelArgs;
import org.sdpo.tensor.cuda.FakeDevice;
import org.sdpo.transformer.sample.Sampler;
import org.sdpo.transformer.tokenizer.CharTokenizer;

/**
 * Sampling on the fake CUDA device with the decode step recorded once and replayed (a CUDA graph,
 * what the sampler does on a GPU) gives the same tokens and log-probabilities, bit for bit, as
 * running every decode step kernel by kernel: the KV cache's write position, the ids and the
 * position ids reach each replay through device memory (for Llama and Qwen3, the rotary angles are
 * rows gathered by those position ids).
 */
class RecordedDecodeTest {
  /** Samples and the device's launches while sampling. */
  record Run(List<Sampler.Sample> samples, long launches) {}

  static Run sample(String arch, boolean graphs) {
    Backend cpu = Backends.current();
    FakeDevice device = new FakeDevice();
    try {
      CudaBackend be = new CudaBackend(device, CudaBackend.Precision.FP32, graphs);
      Backends.install(be);
      assertThat(be.canCaptureSteps()).isEqualTo(graphs);
      CharTokenizer tok = new CharTokenizer("abcdefghij");
      CausalLm m = arch.equals("gpt2")
          ? Gpt.init(GptConfig.of(tok.vocabSize(), 32, 16, 2, 2), DType.FLOAT32, new Rng(3))
          : Llama.init(LlamaConfig.of(arch, tok.vocabSize(), 32, 16, 2, 4, 2, 24), DType.FLOAT32,
              new Rng(3));
      assertThat(m.recordableDecode()).isTrue();
      // prompts of different lengths (left padding), budgets that end rows at different steps
      List<int[]> prompts = List.of(tok.encode("abc"), tok.encode("j"), tok.encode("hgfedc"));
      long l0 = device.launches();
      List<Sampler.Sample> out = new ArrayList<>(Sampler.generate(m, tok, prompts,
          Sampler.Settings.sample(1.0, 12, 7), new int[] {12, 5, 9}));
      return new Run(out, device.launches() - l0);
    } finally {
      Backends.install(cpu);
    }
  }

  /** The fake device, except that it cannot record: every capture fails as it begins. */
  static final class NoGraphs implements CudaDriver {
    final FakeDevice d = new FakeDevice();

    @Override public String description() { return d.description(); }
    @Override public long alloc(long bytes) { return d.alloc(bytes); }
    @Override public void free(long address) { d.free(address); }
    @Override public void carved(long address, long bytes) { d.carved(address, bytes); }
    @Override public void toDevice(long dst, ByteBuffer src) { d.toDevice(dst, src); }
    @Override public void toHost(ByteBuffer dst, long src) { d.toHost(dst, src); }
    @Override public void copy(long dst, long src, long bytes) { d.copy(dst, src, bytes); }
    @Override public void zero(long dst, long bytes) { d.zero(dst, bytes); }
    @Override public void launch(KernelArgs a, int grid, int block) { d.launch(a, grid, block); }
    @Override public void synchronize() { d.synchronize(); }
    @Override public void beginCapture() { throw new IllegalStateException("no graphs here"); }
    @Override public Graph endCapture() { throw new IllegalStateException("not capturing"); }
    @Override public void replay(Graph g) { d.replay(g); }
    @Override public void destroy(Graph g) { d.destroy(g); }
    @Override public long launches() { return d.launches(); }
    @Override public void close() { d.close(); }

    @Override
    public void gemm(GemmType type, boolean transA, boolean transB, int m, int n, int k,
        double alpha, long a, int lda, long strideA, long b, int ldb, long strideB, double beta,
        long c, int ldc, long strideC, int batch) {
      d.gemm(type, transA, transB, m, n, k, alpha, a, lda, strideA, b, ldb, strideB, beta, c, ldc,
          strideC, batch);
    }
  }

  @Test
  void aDecodeStepThatCannotBeRecordedIsDecodedStepByStep() {
    List<Sampler.Sample> eager = sample("gpt2", false).samples();
    Backend cpu = Backends.current();
    PrintStream err = System.err;
    ByteArrayOutputStream said = new ByteArrayOutputStream();
    try {
      Backends.install(new CudaBackend(new NoGraphs(), CudaBackend.Precision.FP32, true));
      System.setErr(new PrintStream(said, true, StandardCharsets.UTF_8));
      CharTokenizer tok = new CharTokenizer("abcdefghij");
      Gpt m = Gpt.init(GptConfig.of(tok.vocabSize(), 32, 16, 2, 2), DType.FLOAT32, new Rng(3));
      List<Sampler.Sample> fallback = Sampler.generate(m, tok, List.of(tok.encode("abc"),
          tok.encode("j"), tok.encode("hgfedc")), Sampler.Settings.sample(1.0, 12, 7),
          new int[] {12, 5, 9});
      for (int b = 0; b < eager.size(); b++) {
        assertThat(fallback.get(b).tokens()).containsExactly(eager.get(b).tokens());
      }
    } finally {
      System.setErr(err);
      Backends.install(cpu);
    }
    assertThat(said.toString(StandardCharsets.UTF_8))
        .contains("recording the decode step failed (no graphs here)");
  }

  /** Two calls of the same shapes: the second replays the first one's recording at once. */
  static List<Long> twoCalls(boolean graphs, List<List<Sampler.Sample>> out) {
    Backend cpu = Backends.current();
    FakeDevice device = new FakeDevice();
    try {
      Backends.install(new CudaBackend(device, CudaBackend.Precision.FP32, graphs));
      CharTokenizer tok = new CharTokenizer("abcdefghij");
      Gpt m = Gpt.init(GptConfig.of(tok.vocabSize(), 32, 16, 2, 2), DType.FLOAT32, new Rng(3));
      List<Long> launches = new ArrayList<>();
      for (List<int[]> prompts : List.of(List.of(tok.encode("abc"), tok.encode("hgfedc")),
          List.of(tok.encode("jj"), tok.encode("a")))) { // other prompt lengths, same capacity
        long l0 = device.launches();
        out.add(Sampler.generate(m, tok, prompts, Sampler.Settings.sample(1.0, 10, 5)));
        launches.add(device.launches() - l0);
      }
      return launches;
    } finally {
      Backends.install(cpu);
    }
  }

  @Test
  void aSecondCallOfTheSameShapesReplaysTheKeptRecording() {
    List<List<Sampler.Sample>> eager = new ArrayList<>();
    List<List<Sampler.Sample>> recorded = new ArrayList<>();
    twoCalls(false, eager);
    List<Long> launches = twoCalls(true, recorded);
    for (int c = 0; c < 2; c++) {
      for (int b = 0; b < 2; b++) {
        assertThat(recorded.get(c).get(b).tokens()).as("call " + c + ", row " + b)
            .containsExactly(eager.get(c).get(b).tokens());
        assertThat(recorded.get(c).get(b).logprobs())
            .containsExactly(eager.get(c).get(b).logprobs());
      }
    }
    assertThat(launches.get(1)).as("the second call records nothing").isLessThan(launches.get(0));
  }

  @ParameterizedTest
  @ValueSource(strings = {"gpt2", "llama", "qwen3"})
  void recordedDecodingSamplesWhatStepByStepDecodingSamples(String arch) {
    Run e = sample(arch, false);
    Run r = sample(arch, true);
    // recorded: every decode step after the first is one launch
    assertThat(r.launches()).as("launches, decode step recorded").isLessThan(e.launches() / 3);
    List<Sampler.Sample> eager = e.samples();
    List<Sampler.Sample> recorded = r.samples();
    assertThat(recorded).hasSameSizeAs(eager);
    for (int b = 0; b < eager.size(); b++) {
      assertThat(recorded.get(b).tokens()).as("tokens of row " + b)
          .containsExactly(eager.get(b).tokens());
      assertThat(recorded.get(b).logprobs()).as("log-probabilities of row " + b)
          .containsExactly(eager.get(b).logprobs());
      assertThat(recorded.get(b).finishReason()).isEqualTo(eager.get(b).finishReason());
    }
    assertThat(eager.get(1).tokens().length).as("row 1 stops early").isLessThanOrEqualTo(5);
    assertThat(eager.stream().mapToInt(x -> x.tokens().length).max().getAsInt())
        .as("some row decodes past the first few steps").isGreaterThan(5);
  }
}
