package org.sdpo.transformer;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.sdpo.tensor.Backend;
import org.sdpo.tensor.Backends;
import org.sdpo.tensor.DType;
import org.sdpo.tensor.Rng;
import org.sdpo.tensor.cuda.CudaBackend;
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
    String before = System.getProperty("sdpo.cuda.graphs");
    System.setProperty("sdpo.cuda.graphs", Boolean.toString(graphs));
    FakeDevice device = new FakeDevice();
    try {
      CudaBackend be = new CudaBackend(device, CudaBackend.Precision.FP32);
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
      if (before == null) {
        System.clearProperty("sdpo.cuda.graphs");
      } else {
        System.setProperty("sdpo.cuda.graphs", before);
      }
    }
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
