package org.sdpo.transformer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.quicktheories.QuickTheory.qt;
import static org.quicktheories.generators.SourceDSL.strings;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.text.Normalizer;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.zip.GZIPInputStream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sdpo.transformer.tokenizer.Gpt2Bpe;
import org.sdpo.transformer.tokenizer.HfTokenizer;
import org.sdpo.transformer.tokenizer.Tokenizer;

/**
 * Hugging Face tokenizer.json: Qwen3's real file against reference ids from @lenml/tokenizers
 * (a fork of transformers.js; tools/make_hf_tokenizer_fixtures.js) on unicode, digits,
 * whitespace runs, special tokens inside text and 200 seeded random strings; GPT-2's files
 * rewritten as a tokenizer.json against our GPT-2 tokenizer; errors.
 */
class HfTokenizerTest {
  static final Path QWEN3 = Path.of("src/test/resources/qwen3");
  static final ObjectMapper JSON = new ObjectMapper();
  @TempDir static Path tmp;
  static HfTokenizer qwen;

  /** A real tokenizer's directory (tokenizer.json unpacked from the committed .gz). */
  static Path unpack(Path from, Path into) throws IOException {
    Files.createDirectories(into);
    try (InputStream in = new GZIPInputStream(Files.newInputStream(from.resolve("tokenizer.json.gz")))) {
      Files.write(into.resolve("tokenizer.json"), in.readAllBytes());
    }
    Files.copy(from.resolve("tokenizer_config.json"), into.resolve("tokenizer_config.json"));
    return into;
  }

  @BeforeAll
  static void load() throws Exception {
    qwen = (HfTokenizer) Tokenizer.load(unpack(QWEN3, tmp.resolve("qwen3")));
  }

  /**
   * Qwen3 (NFC, a Split regex with single digits, 26 added tokens) and Llama 3 (digits in threes,
   * ignore_merges, 256 added tokens) against the reference on every fixture string.
   */
  @org.junit.jupiter.params.ParameterizedTest
  @org.junit.jupiter.params.provider.ValueSource(strings = {"qwen3", "llama3"})
  void matchesTheReferenceOnEveryFixture(String model) throws Exception {
    Path res = Path.of("src/test/resources", model);
    Tokenizer tok = Tokenizer.load(unpack(res, tmp.resolve("fx-" + model)));
    List<String> lines = Files.readAllLines(res.resolve("encode_fixtures.jsonl"));
    assertThat(lines).hasSizeGreaterThan(250);
    List<String> mismatches = new ArrayList<>();
    for (String line : lines) {
      JsonNode n = JSON.readTree(line);
      String text = n.get("text").asText();
      int[] expected = JSON.convertValue(n.get("ids"), int[].class);
      int[] got = tok.encode(text);
      if (!java.util.Arrays.equals(got, expected)) {
        mismatches.add(JSON.writeValueAsString(text) + ": expected "
            + java.util.Arrays.toString(expected) + ", got " + java.util.Arrays.toString(got));
      }
    }
    assertThat(mismatches).isEmpty();
  }

  @Test
  void qwen3SpecialTokensAndSizes() {
    assertThat(qwen.eos()).isEqualTo(qwen.idOf("<|im_end|>")).isEqualTo(151645);
    assertThat(qwen.pad()).isEqualTo(151643); // <|endoftext|>
    assertThat(qwen.bos()).isEqualTo(-1); // Qwen names none
    assertThat(qwen.vocabSize()).isEqualTo(151669);
    int[] ids = qwen.encode("<|im_start|>user\nhi<|im_end|>");
    assertThat(qwen.decode(ids, false)).isEqualTo("<|im_start|>user\nhi<|im_end|>");
    assertThat(qwen.decode(ids, true)).isEqualTo("user\nhi");
  }

  /** decode(encode(s)) is s after NFC, lone surrogates replaced, whatever the text. */
  @Test
  void decodeInvertsEncodeOnAnyText() {
    qt().withFixedSeed(11L).withExamples(300)
        .forAll(strings().allPossible().ofLengthBetween(0, 40))
        .checkAssert(s -> {
          String clean = Normalizer.normalize(replaceLone(s), Normalizer.Form.NFC);
          assertThat(qwen.decode(qwen.encode(s), false)).isEqualTo(clean);
        });
  }

  static String replaceLone(String s) {
    StringBuilder b = new StringBuilder();
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (Character.isHighSurrogate(c) && i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1))) {
        b.append(c).append(s.charAt(++i));
      } else {
        b.append(Character.isSurrogate(c) ? '\ufffd' : c);
      }
    }
    return b.toString();
  }

  /** GPT-2's vocab.json and merges.txt written as a tokenizer.json encode exactly as before. */
  @Test
  void gpt2AsTokenizerJsonMatchesOurGpt2Tokenizer() throws Exception {
    Path g = TokenizerTest.GPT2;
    Gpt2Bpe gpt2 = Gpt2Bpe.load(g.resolve("vocab.json"), g.resolve("merges.txt"));
    ObjectNode root = JSON.createObjectNode();
    ObjectNode model = root.putObject("model");
    model.put("type", "BPE");
    model.set("vocab", JSON.readTree(g.resolve("vocab.json").toFile()));
    ArrayNode merges = model.putArray("merges");
    for (String l : Files.readAllLines(g.resolve("merges.txt"))) {
      if (!l.startsWith("#version") && !l.isBlank()) {
        merges.add(l);
      }
    }
    root.putObject("pre_tokenizer").put("type", "ByteLevel").put("add_prefix_space", false)
        .put("use_regex", true);
    root.putObject("decoder").put("type", "ByteLevel");
    ArrayNode added = root.putArray("added_tokens");
    added.addObject().put("id", 50256).put("content", "<|endoftext|>").put("special", true);
    Path d = tmp.resolve("gpt2json");
    Files.createDirectories(d);
    Files.writeString(d.resolve("tokenizer.json"), root.toString());
    Tokenizer hf = Tokenizer.load(d);
    assertThat(hf).isInstanceOf(HfTokenizer.class);
    assertThat(hf.eos()).isEqualTo(50256);
    for (String line : Files.readAllLines(g.resolve("bpe_fixtures.jsonl"))) {
      String text = JSON.readTree(line).get("text").asText();
      if (text.contains("<|endoftext|>")) {
        continue; // GPT-2's own files know no added tokens
      }
      assertThat(hf.encode(text)).as(text).containsExactly(gpt2.encode(text));
    }
  }

  @Test
  void savesItsFilesUnchanged() throws Exception {
    Path d = tmp.resolve("saved");
    Files.createDirectories(d);
    qwen.save(d);
    assertThat(Files.mismatch(d.resolve("tokenizer.json"), tmp.resolve("qwen3/tokenizer.json")))
        .isEqualTo(-1);
    assertThat(Tokenizer.load(d).encode("Hi <|im_end|>")).containsExactly(qwen.encode("Hi <|im_end|>"));
  }

  @Test
  void unsupportedFilesAreOneLineErrorsNamingTheField() throws Exception {
    Path d = tmp.resolve("bad");
    Files.createDirectories(d);
    Map<String, String> cases = Map.of(
        "{\"model\": {\"type\": \"Unigram\", \"vocab\": []}}", "\"model\".\"type\"",
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [], \"byte_fallback\": true},"
            + " \"added_tokens\": [{\"id\": 1, \"content\": \"</s>\"}]}", "byte_fallback",
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []},"
            + " \"pre_tokenizer\": {\"type\": \"Metaspace\"}}", "Metaspace",
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [\"a\"]}}", "\"merges\"[0]",
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []},"
            + " \"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"Regex\": \"(\"}}}", "does not compile",
        "not json", "not a readable JSON");
    for (Map.Entry<String, String> c : cases.entrySet()) {
      Files.writeString(d.resolve("tokenizer.json"), c.getKey());
      assertThatThrownBy(() -> Tokenizer.load(d)).as(c.getKey()).isInstanceOf(IOException.class)
          .hasMessageContaining("tokenizer.json").hasMessageContaining(c.getValue())
          .satisfies(e -> assertThat(e.getMessage()).doesNotContain("\n"));
    }
  }
}
