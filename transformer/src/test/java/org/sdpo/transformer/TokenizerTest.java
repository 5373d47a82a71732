package org.sdpo.transformer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.quicktheories.QuickTheory.qt;
import static org.quicktheories.generators.SourceDSL.strings;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sdpo.transformer.tokenizer.CharTokenizer;
import org.sdpo.transformer.tokenizer.Gpt2Bpe;
import org.sdpo.transformer.tokenizer.Tokenizer;

class TokenizerTest {
  static final Path GPT2 = Path.of("src/test/resources/gpt2");
  static Gpt2Bpe bpe;

  @BeforeAll
  static void load() throws Exception {
    bpe = Gpt2Bpe.load(GPT2.resolve("vocab.json"), GPT2.resolve("merges.txt"));
  }

  @Test
  void matchesAnEstablishedGpt2TokenizerOnTrickyStrings() throws Exception {
    ObjectMapper m = new ObjectMapper();
    List<String> lines = Files.readAllLines(GPT2.resolve("bpe_fixtures.jsonl"));
    assertThat(lines).hasSizeGreaterThan(300);
    for (String line : lines) {
      JsonNode n = m.readTree(line);
      String text = n.get("text").asText();
      int[] expected = new int[n.get("ids").size()];
      for (int i = 0; i < expected.length; i++) {
        expected[i] = n.get("ids").get(i).asInt();
      }
      assertThat(bpe.encode(text)).as("encode %s", m.writeValueAsString(text))
          .containsExactly(expected);
      assertThat(bpe.decode(expected, false)).as("decode").isEqualTo(text);
    }
    assertThat(bpe.vocabSize()).isEqualTo(50257);
    assertThat(bpe.eos()).isEqualTo(50256);
  }

  @Test
  void roundTripsAnyStringAndNeverThrows() {
    qt().withFixedSeed(5L).withExamples(400)
        .forAll(strings().allPossible().ofLengthBetween(0, 60))
        .checkAssert(s -> {
          int[] ids = bpe.encode(s);
          String back = bpe.decode(ids, false);
          boolean valid = s.codePoints().noneMatch(cp -> cp >= 0xD800 && cp <= 0xDFFF);
          if (valid) {
            assertThat(back).isEqualTo(s);
          } else {
            assertThat(back).contains("\ufffd");
          }
        });
    assertThat(bpe.encode("a".repeat(100_000))).isNotEmpty();
    assertThat(bpe.encode("\ud800")).containsExactly(bpe.encode("\ufffd"));
    assertThat(bpe.decode(new int[] {-1, 999_999, 15496}, false)).isEqualTo("Hello");
  }

  @Test
  void charTokenizerRoundTripsItsAlphabetAndMapsTheRestToUnknown(@TempDir Path dir) throws Exception {
    CharTokenizer c = CharTokenizer.ascii();
    String s = "def f(x):\n    return x * 2 + 1  # ok!";
    assertThat(c.decode(c.encode(s), true)).isEqualTo(s);
    assertThat(c.encode("é")).containsExactly(CharTokenizer.UNK);
    assertThat(c.vocabSize()).isEqualTo(100);
    c.save(dir);
    Tokenizer back = Tokenizer.load(dir);
    assertThat(back.encode(s)).containsExactly(c.encode(s));

  }
}
