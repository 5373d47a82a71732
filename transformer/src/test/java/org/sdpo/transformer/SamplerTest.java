package org.sdpo.transformer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.sdpo.autograd.Grad;
import org.sdpo.tensor.DType;
import org.sdpo.tensor.Rng;
import org.sdpo.tensor.Tensor;
import org.sdpo.transformer.sample.Sampler;
import org.sdpo.transformer.tokenizer.CharTokenizer;

class SamplerTest {
  final CharTokenizer tok = CharTokenizer.ascii();
  final CausalLm model = Gpt.init(GptConfig.of(tok.vocabSize(), 48, 16, 2, 2), DType.FLOAT64,
      new Rng(9));

  private double[] lastLogits(int[] seq) {
    try (Grad.Scope g = Grad.disabled()) {
      Tensor l = model.forward(seq, 1, seq.length).value();
      return l.slice(1, seq.length - 1, seq.length).copy().toDoubleArray();
    }
  }

  @Test
  void greedyDecodingMatchesRecomputingTheFullSequence() {
    List<int[]> prompts = List.of(tok.encode("def f(x):"), tok.encode("hi"));
    List<Sampler.Sample> out = Sampler.generate(model, tok, prompts, Sampler.Settings.greedy(8));
    for (int b = 0; b < prompts.size(); b++) {
      int[] seq = prompts.get(b);
      for (int t = 0; t < out.get(b).tokens().length; t++) {
        double[] logits = lastLogits(seq);
        int best = 0;
        for (int i = 1; i < logits.length; i++) {
          best = logits[i] > logits[best] ? i : best;
        }
        assertThat(out.get(b).tokens()[t]).as("sequence %d token %d", b, t).isEqualTo(best);
        seq = java.util.Arrays.copyOf(seq, seq.length + 1);
        seq[seq.length - 1] = best;
      }
    }
  }

  @Test
  void sampledLogProbsAreThoseOfTheSamplingDistribution() {
    int[] prompt = tok.encode("abc");
    Sampler.Settings s = Sampler.Settings.sample(0.7, 5, 42);
    Sampler.Sample sample = Sampler.generate(model, tok, List.of(prompt), s).get(0);
    int[] seq = prompt;
    for (int t = 0; t < sample.tokens().length; t++) {
      double[] logits = lastLogits(seq);
      Tensor lp = Tensor.of(DType.FLOAT64, logits, logits.length).mul(1 / 0.7).logSoftmax();
      assertThat(sample.logprobs()[t]).isCloseTo(lp.get(sample.tokens()[t]), within(1e-9));
      seq = java.util.Arrays.copyOf(seq, seq.length + 1);
      seq[seq.length - 1] = sample.tokens()[t];
    }
  }

  @Test
  void seedsReproduceAndTopKOneIsGreedy() {
    List<int[]> prompts = List.of(tok.encode("x"), tok.encode("yy"), tok.encode("zzz"));
    Sampler.Settings a = Sampler.Settings.sample(1.0, 6, 1);
    List<Sampler.Sample> s1 = Sampler.generate(model, tok, prompts, a);
    List<Sampler.Sample> s2 = Sampler.generate(model, tok, prompts, a);
    List<Sampler.Sample> s3 = Sampler.generate(model, tok, prompts, Sampler.Settings.sample(1.0, 6, 2));
    for (int b = 0; b < 3; b++) {
      assertThat(s1.get(b).tokens()).containsExactly(s2.get(b).tokens());
    }
    assertThat(s1.stream().map(x -> java.util.Arrays.toString(x.tokens())).toList())
        .isNotEqualTo(s3.stream().map(x -> java.util.Arrays.toString(x.tokens())).toList());
    Sampler.Settings top1 = new Sampler.Settings(1.0, 1, 1.0, false, 6, List.of(), 5);
    List<Sampler.Sample> k1 = Sampler.generate(model, tok, prompts, top1);
    List<Sampler.Sample> greedy = Sampler.generate(model, tok, prompts, Sampler.Settings.greedy(6));
    for (int b = 0; b < 3; b++) {
      assertThat(k1.get(b).tokens()).containsExactly(greedy.get(b).tokens());
      for (double l : k1.get(b).logprobs()) {
        assertThat(l).isEqualTo(0.0); // one candidate: probability 1
      }
    }
  }

  @Test
  void budgetsAndStopStrings() {
    List<int[]> prompts = List.of(tok.encode("a"), tok.encode("b"));
    List<Sampler.Sample> s = Sampler.generate(model, tok, prompts, Sampler.Settings.sample(1.0, 9, 3),
        new int[] {2, 9});
    assertThat(s.get(0).tokens()).hasSizeLessThanOrEqualTo(2);
    assertThat(s.get(1).tokens().length).isLessThanOrEqualTo(9);
    String greedyText = Sampler.generate(model, tok, List.of(tok.encode("a")),
        Sampler.Settings.greedy(10)).get(0).text();
    if (greedyText.length() > 3) {
      String stop = greedyText.substring(2, 3);
      Sampler.Settings st = new Sampler.Settings(1.0, 0, 1.0, true, 10, List.of(stop), 0);
      Sampler.Sample x = Sampler.generate(model, tok, List.of(tok.encode("a")), st).get(0);
      assertThat(x.finishReason()).isEqualTo("stop");
      assertThat(x.text()).doesNotContain(stop);
    }
  }

  /**
   * With ignoreEos every row decodes its whole budget, end tokens included (what a benchmark
   * needs to time a fixed number of positions); without, a sampled end token ends its row.
   */
  @Test
  void ignoringEosDecodesTheWholeBudget() {
    List<int[]> prompts = java.util.Collections.nCopies(16, tok.encode("a"));
    Sampler.Settings s = Sampler.Settings.sample(1.0, 40, 5);
    List<Sampler.Sample> ended = Sampler.generate(model, tok, prompts, s);
    // the random model puts about 1% on the end token: some of the 16 rows draw it (seed 5)
    assertThat(ended).anyMatch(x -> x.finishReason().equals("eos") && x.tokens().length < 40);
    List<Sampler.Sample> all = Sampler.generate(model, tok, prompts, s.ignoringEos());
    assertThat(all).allMatch(x -> x.tokens().length == 40 && x.finishReason().equals("length"));
    assertThat(all).anyMatch(x -> java.util.Arrays.stream(x.tokens()).limit(39)
        .anyMatch(t -> t == tok.eos()));
  }

  /** A token the tokenizer names as an end (generation_config.json's eos_token_id) ends a row. */
  @Test
  void everyEndTokenEndsARow() {
    List<int[]> prompts = List.of(tok.encode("def f(x):"));
    int first = Sampler.generate(model, tok, prompts, Sampler.Settings.greedy(8)).get(0)
        .tokens()[0];
    assertThat(first).isNotEqualTo(tok.eos());
    org.sdpo.transformer.tokenizer.Tokenizer endsThere = new org.sdpo.transformer.tokenizer
        .Tokenizer() {
      @Override
      public int[] encode(String text) {
        return tok.encode(text);
      }

      @Override
      public String decode(int[] ids, boolean skipSpecial) {
        return tok.decode(ids, skipSpecial);
      }

      @Override
      public int vocabSize() {
        return tok.vocabSize();
      }

      @Override
      public int eos() {
        return tok.eos();
      }

      @Override
      public boolean isEnd(int id) {
        return id == tok.eos() || id == first;
      }

      @Override
      public int pad() {
        return tok.pad();
      }

      @Override
      public void save(java.nio.file.Path dir) {
        throw new UnsupportedOperationException();
      }
    };
    Sampler.Sample s = Sampler.generate(model, endsThere, prompts, Sampler.Settings.greedy(8))
        .get(0);
    assertThat(s.tokens()).containsExactly(first);
    assertThat(s.finishReason()).isEqualTo("eos");
  }

  /**
   * A prompt pass whose logits of every position would pass {@link Sampler#PROMPT_LOGITS_BYTES}
   * takes the head of the last position only: the first token's log-probability is the one the
   * full forward's last position gives (float64), and decoding goes on from the same cache.
   */
  @Test
  void aLongPromptPassMakesTheLastPositionsLogitsOnly() throws Exception {
    longPromptPass();
    CudaFakeDeviceTest.onFakeDevice(() -> { // the CUDA backend's views and products of it
      longPromptPass();
      return null;
    });
  }

  private void longPromptPass() {
    StringBuilder alphabet = new StringBuilder();
    for (int c = 0x100; c < 0x100 + 2000; c++) {
      alphabet.appendCodePoint(c);
    }
    CharTokenizer big = new CharTokenizer(alphabet.toString());
    int V = big.vocabSize();
    CausalLm m = Gpt.init(GptConfig.of(V, 320, 16, 1, 2), DType.FLOAT64, new Rng(9));
    int B = 8;
    int T = 300;
    assertThat((long) B * T * V * 8).isGreaterThan(Sampler.PROMPT_LOGITS_BYTES);
    org.sdpo.tensor.Rng r = new org.sdpo.tensor.Rng(3);
    List<int[]> prompts = new java.util.ArrayList<>();
    int[] ids = new int[B * T];
    for (int b = 0; b < B; b++) {
      int[] p = new int[T];
      for (int t = 0; t < T; t++) {
        p[t] = 4 + r.nextInt(V - 4);
        ids[b * T + t] = p[t];
      }
      prompts.add(p);
    }
    List<Sampler.Sample> out = Sampler.generate(m, big, prompts, Sampler.Settings.sample(1.0, 3,
        11));
    Tensor lp;
    try (org.sdpo.autograd.Grad.Scope g = org.sdpo.autograd.Grad.disabled()) {
      lp = m.forward(ids, B, T).value().slice(1, T - 1, T).reshape(B, V).logSoftmax(); // (B, V)
    }
    double[] expected = lp.toDoubleArray();
    for (int b = 0; b < B; b++) {
      Sampler.Sample x = out.get(b);
      assertThat(x.tokens()).isNotEmpty();
      assertThat(x.logprobs()[0]).as("row " + b)
          .isCloseTo(expected[b * V + x.tokens()[0]], within(1e-12));
    }
  }

  /** The primitive merge sort gives the permutation the comparator sort gave, ties included. */
  @Test
  void theSamplingOrderIsTheComparatorSortsOrder() {
    org.quicktheories.QuickTheory.qt().withFixedSeed(5L).withExamples(300)
        .forAll(org.quicktheories.generators.SourceDSL.integers().between(0, 300),
            org.quicktheories.generators.SourceDSL.longs().all())
        .checkAssert((n, seed) -> {
          java.util.Random r = new java.util.Random(seed);
          double[] p = new double[n];
          boolean ties = r.nextBoolean();
          for (int i = 0; i < n; i++) { // few distinct values (many ties, zeros) or any values
            p[i] = ties ? (r.nextInt(3) == 0 ? 0.0 : r.nextInt(5) / 4.0)
                : Math.exp(r.nextGaussian() * 30) * (r.nextInt(20) == 0 ? 0 : 1);
          }
          Integer[] order = new Integer[n];
          for (int i = 0; i < n; i++) {
            order[i] = i;
          }
          java.util.Arrays.sort(order, (a, b) -> p[a] != p[b] ? Double.compare(p[b], p[a])
              : Integer.compare(a, b));
          int[] expected = java.util.Arrays.stream(order).mapToInt(Integer::intValue).toArray();
          org.assertj.core.api.Assertions.assertThat(
              org.sdpo.tensor.Fused.descendingOrder(p)).containsExactly(expected);
        });
  }

  /** Settings that cannot sample are refused; an empty stop string once ended every sample at once. */
  @Test
  void settingsThatCannotSampleAreRefused() {
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> new Sampler.Settings(1.0, 0, 1.0,
        false, 8, List.of("\n", ""), 1)).hasMessage("sampling: a stop string must not be empty");
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> Sampler.Settings.sample(0.0, 8, 1))
        .hasMessageContaining("temperature must be > 0");
    assertThat(new Sampler.Settings(1.0, 0, 1.0, false, 8, List.of("\n"), 1).stop())
        .containsExactly("\n");
  }
}
