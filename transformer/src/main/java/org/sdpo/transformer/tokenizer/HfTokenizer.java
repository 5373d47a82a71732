package org.sdpo.transformer.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.text.Normalizer;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;
import org.sdpo.transformer.io.AtomicFiles;

/**
 * A Hugging Face {@code tokenizer.json} with a BPE model: byte-level, the kind Llama 3, Qwen2,
 * Qwen3, SmolLM2 and GPT-2 ship, or over characters with SentencePiece's byte fallback, the kind
 * Llama 2, Mistral, TinyLlama and Gemma ship. Encoding follows the tokenizers library's pipeline:
 * <ol>
 *   <li>added tokens ({@code added_tokens}: special and not) are found first, leftmost and
 *       longest first, honouring {@code lstrip} and {@code rstrip}; the text between them goes
 *       through the rest;
 *   <li>the normalizer: none, {@code NFC}, {@code NFKC}, {@code NFD}, {@code NFKD},
 *       {@code Prepend}, {@code Replace} (a string or a regex) or a {@code Sequence} of them
 *       (Llama 2 prepends {@code ▁} to each piece of text between added tokens and replaces
 *       spaces by it);
 *   <li>the pre-tokenizer: {@code Split} on the model's regex or string ({@code Isolated},
 *       {@code Removed}, {@code MergedWithPrevious}, {@code MergedWithNext} or
 *       {@code Contiguous}), {@code Digits}, {@code ByteLevel} (with GPT-2's regex when
 *       {@code use_regex}, and {@code add_prefix_space}), {@code Metaspace} ({@link Metaspace}),
 *       or a {@code Sequence} of them;
 *   <li>BPE on each piece: byte-level ({@link ByteLevelBpe}) when the pre-tokenizer or the decoder
 *       is {@code ByteLevel}, else over characters ({@link PieceBpe}: {@code byte_fallback},
 *       {@code unk_token}, {@code fuse_unk}); {@code ignore_merges} as Llama 3 sets it.
 * </ol>
 * Decoding is the {@code ByteLevel} decoder (added tokens decode to their text), or the file's
 * chain of {@code Replace}, {@code ByteFallback}, {@code Fuse}, {@code Strip} and
 * {@code Metaspace} ({@link PieceDecoder}). The post-processor (a BOS some models prepend) is not
 * applied: prompts are built by the chat template or by the caller. Anything else in the file (a
 * Unigram or WordPiece model, another pre-tokenizer or normalizer) is a one-line error naming the
 * file and the field. Nothing throws on odd text: lone surrogates become U+FFFD, invalid UTF-8
 * decodes to U+FFFD.
 */
public final class HfTokenizer implements Tokenizer {
  public static final String FILE = "tokenizer.json";
  public static final String CONFIG_FILE = "tokenizer_config.json";
  /** The model's generation settings; its {@code eos_token_id} (one or a list) ends sampling. */
  public static final String GENERATION_FILE = "generation_config.json";
  private static final ObjectMapper JSON = new ObjectMapper();

  /** A token matched in the raw text before anything else. */
  private record Added(int id, String content, boolean special, boolean lstrip, boolean rstrip) {}

  /**
   * One pre-tokenization step: pieces in, finer pieces out; {@code atStart} says whether the
   * piece starts the text (only Metaspace's {@code first} scheme asks).
   */
  interface PreStep {
    void split(String piece, boolean atStart, List<String> out);
  }

  private final byte[] json;
  private final byte[] config; // tokenizer_config.json, or null
  private final byte[] generation; // generation_config.json, or null
  private final java.util.Set<Integer> ends = new java.util.HashSet<>(); // eos and the file's
  private final List<UnaryOperator<String>> normalizers;
  private final List<PreStep> pre;
  private final boolean addPrefixSpace;
  private final BpeModel bpe;
  private final PieceDecoder pieceDecoder; // null: byte-level
  private final String[] tokens; // id to token (byte characters, or an added token's text)
  private final boolean[] special;
  private final Map<Character, List<Added>> addedByFirstChar = new HashMap<>();
  private final Map<Integer, Added> addedById = new HashMap<>();
  private final int eos;
  private final int pad;
  private final int bos;
  private final JsonNode tokenizerConfig;

  private HfTokenizer(Path file, byte[] json, byte[] config, byte[] generation)
      throws IOException {
    this.json = json;
    this.config = config;
    this.generation = generation;
    JsonNode root = parse(file, json);
    this.tokenizerConfig = config == null ? JSON.createObjectNode()
        : parse(file.resolveSibling(CONFIG_FILE), config);
    JsonNode model = root.path("model");
    String type = model.path("type").asText("BPE");
    if (!type.equals("BPE") || !model.has("vocab") || !model.has("merges")) {
      throw new IOException(file + ": \"model\".\"type\" is " + model.path("type")
          + "; only BPE models (type BPE with vocab and merges) are supported");
    }
    Map<String, Integer> vocab = new HashMap<>();
    int maxId = -1;
    for (Map.Entry<String, JsonNode> e : model.get("vocab").properties()) {
      int id = e.getValue().asInt(-1);
      if (id < 0) {
        throw new IOException(file + ": \"model\".\"vocab\".\"" + e.getKey()
            + "\" is not a non-negative id: " + e.getValue());
      }
      vocab.put(e.getKey(), id);
      maxId = Math.max(maxId, id);
    }
    Map<String, Integer> ranks = new HashMap<>();
    JsonNode merges = model.get("merges");
    for (int i = 0; i < merges.size(); i++) {
      JsonNode m = merges.get(i);
      String key;
      if (m.isArray() && m.size() == 2) {
        key = m.get(0).asText() + " " + m.get(1).asText();
      } else if (m.isTextual() && m.asText().indexOf(' ') > 0) {
        key = m.asText();
      } else {
        throw new IOException(file + ": \"model\".\"merges\"[" + i + "] is not a pair: " + m);
      }
      ranks.putIfAbsent(key, i);
    }
    List<Added> added = new ArrayList<>();
    for (JsonNode a : root.path("added_tokens")) {
      Added t = new Added(a.path("id").asInt(-1), a.path("content").asText(""),
          a.path("special").asBoolean(false), a.path("lstrip").asBoolean(false),
          a.path("rstrip").asBoolean(false));
      if (t.id() < 0 || t.content().isEmpty()) {
        throw new IOException(file + ": \"added_tokens\" entry " + a + " needs an id and content");
      }
      added.add(t);
      maxId = Math.max(maxId, t.id());
    }
    tokens = new String[maxId + 1];
    special = new boolean[maxId + 1];
    vocab.forEach((t, id) -> tokens[id] = t);
    added.sort(Comparator.comparingInt((Added t) -> -t.content().length()));
    for (Added t : added) {
      tokens[t.id()] = t.content();
      special[t.id()] = t.special();
      addedById.put(t.id(), t);
      addedByFirstChar.computeIfAbsent(t.content().charAt(0), c -> new ArrayList<>()).add(t);
    }
    this.normalizers = normalizers(file, root.path("normalizer"));
    List<PreStep> steps = new ArrayList<>();
    boolean[] prefix = {false, false}; // add_prefix_space, a ByteLevel step seen
    preTokenizer(file, root.path("pre_tokenizer"), steps, prefix);
    JsonNode decoder = root.path("decoder");
    boolean byteLevel = prefix[1] || decoder.path("type").asText().equals("ByteLevel");
    boolean ignoreMerges = model.path("ignore_merges").asBoolean(false);
    this.pre = steps;
    this.addPrefixSpace = prefix[0];
    if (byteLevel) {
      if (model.path("byte_fallback").asBoolean(false)) {
        throw new IOException(file + ": \"model\".\"byte_fallback\" is true in a byte-level BPE"
            + " (ByteLevel covers every byte; a SentencePiece-style file has no ByteLevel step)");
      }
      this.bpe = new ByteLevelBpe(vocab, ranks, ignoreMerges);
      this.pieceDecoder = null;
    } else {
      this.bpe = new PieceBpe(vocab, ranks, model.path("byte_fallback").asBoolean(false),
          model.path("unk_token").asText(null), model.path("fuse_unk").asBoolean(false),
          ignoreMerges);
      this.pieceDecoder = PieceDecoder.of(file, decoder);
    }
    this.eos = specialId(file, "eos_token", "<|endoftext|>", "<|end_of_text|>", "</s>", "<eos>");
    this.bos = specialIdOrMinus1("bos_token");
    int p = specialIdOrMinus1("pad_token");
    this.pad = p >= 0 ? p : eos;
    ends.add(eos);
    if (generation != null) {
      Path g = file.resolveSibling(GENERATION_FILE);
      JsonNode e = parse(g, generation).path("eos_token_id");
      for (JsonNode id : e.isArray() ? e : JSON.createArrayNode().add(e)) {
        if (id.isMissingNode() || id.isNull()) {
          continue;
        }
        if (!id.canConvertToInt() || id.asInt() < 0 || id.asInt() >= tokens.length) {
          throw new IOException(g + ": \"eos_token_id\" " + id + " is not a token id of "
              + file.getFileName() + " (0 .. " + (tokens.length - 1) + ")");
        }
        ends.add(id.asInt());
      }
    }
  }

  private static JsonNode parse(Path file, byte[] bytes) throws IOException {
    try {
      JsonNode n = JSON.readTree(bytes);
      if (n == null || !n.isObject()) {
        throw new IOException("not a JSON object");
      }
      return n;
    } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
      var at = e.getLocation();
      throw new IOException(file + ": not a readable JSON object: " + e.getOriginalMessage()
          + (at == null ? "" : " (line " + at.getLineNr() + ", column " + at.getColumnNr() + ")"), e);
    } catch (IOException e) {
      throw new IOException(file + ": not a readable JSON object: " + e.getMessage(), e);
    }
  }

  /**
   * Loads {@code tokenizer.json} and, if present beside it, {@code tokenizer_config.json} and
   * {@code generation_config.json}.
   */
  public static HfTokenizer load(Path tokenizerJson) throws IOException {
    Path cfg = tokenizerJson.resolveSibling(CONFIG_FILE);
    Path gen = tokenizerJson.resolveSibling(GENERATION_FILE);
    return new HfTokenizer(tokenizerJson, Files.readAllBytes(tokenizerJson),
        Files.exists(cfg) ? Files.readAllBytes(cfg) : null,
        Files.exists(gen) ? Files.readAllBytes(gen) : null);
  }

  private static List<UnaryOperator<String>> normalizers(Path file, JsonNode n)
      throws IOException {
    List<UnaryOperator<String>> out = new ArrayList<>();
    if (!n.isMissingNode() && !n.isNull()) {
      normalizer(file, n, out);
    }
    return out;
  }

  private static void normalizer(Path file, JsonNode x, List<UnaryOperator<String>> out)
      throws IOException {
    String t = x.path("type").asText();
    switch (t) {
      case "Sequence" -> {
        for (JsonNode y : x.path("normalizers")) {
          normalizer(file, y, out);
        }
      }
      case "NFC" -> out.add(s -> Normalizer.normalize(s, Normalizer.Form.NFC));
      case "NFKC" -> out.add(s -> Normalizer.normalize(s, Normalizer.Form.NFKC));
      case "NFD" -> out.add(s -> Normalizer.normalize(s, Normalizer.Form.NFD));
      case "NFKD" -> out.add(s -> Normalizer.normalize(s, Normalizer.Form.NFKD));
      case "Prepend" -> {
        String p = x.path("prepend").asText("");
        out.add(s -> s.isEmpty() ? s : p + s);
      }
      case "Replace" -> {
        Pattern p = pattern(file, "normalizer", x.path("pattern"));
        String content = x.path("content").asText("");
        out.add(s -> replaceAll(p, s, content));
      }
      default -> throw new IOException(file + ": \"normalizer\" of type \"" + t
          + "\" is not supported (NFC, NFKC, NFD, NFKD, Prepend, Replace or a Sequence of them"
          + " are)");
    }
  }

  /** A {@code pattern} node: {@code {"String": ...}} (literal) or {@code {"Regex": ...}}. */
  static Pattern pattern(Path file, String where, JsonNode p) throws IOException {
    try {
      if (p.has("Regex")) {
        return Pattern.compile(p.get("Regex").asText(), Pattern.UNICODE_CHARACTER_CLASS);
      }
      if (p.has("String")) {
        return Pattern.compile(Pattern.quote(p.get("String").asText()));
      }
    } catch (PatternSyntaxException e) {
      throw new IOException(file + ": \"" + where + "\" pattern does not compile: "
          + e.getDescription(), e);
    }
    throw new IOException(file + ": \"" + where + "\" pattern " + p + " is neither {\"String\": "
        + "...} nor {\"Regex\": ...}");
  }

  /** Every match of {@code p} in {@code s} replaced by the literal {@code content}. */
  static String replaceAll(Pattern p, String s, String content) {
    return p.matcher(s).replaceAll(Matcher.quoteReplacement(content));
  }

  private static void preTokenizer(Path file, JsonNode n, List<PreStep> steps, boolean[] flags)
      throws IOException {
    if (n.isMissingNode() || n.isNull()) {
      return;
    }
    String type = n.path("type").asText();
    switch (type) {
      case "Sequence" -> {
        for (JsonNode x : n.path("pretokenizers")) {
          preTokenizer(file, x, steps, flags);
        }
      }
      case "ByteLevel" -> {
        flags[0] |= n.path("add_prefix_space").asBoolean(false);
        flags[1] = true;
        if (n.path("use_regex").asBoolean(true)) {
          steps.add(isolated(Gpt2Bpe.PRETOKENIZE, false));
        }
      }
      case "Split" -> {
        if (n.path("invert").asBoolean(false)) {
          throw new IOException(file + ": \"pre_tokenizer\" Split with \"invert\": true is not"
              + " supported");
        }
        Pattern pattern = pattern(file, "pre_tokenizer", n.path("pattern"));
        String behavior = n.path("behavior").asText("Isolated");
        if (!List.of("Isolated", "Removed", "MergedWithPrevious", "MergedWithNext", "Contiguous")
            .contains(behavior)) {
          throw new IOException(file + ": \"pre_tokenizer\" Split behavior \"" + behavior
              + "\" is not supported (Isolated, Removed, MergedWithPrevious, MergedWithNext and "
              + "Contiguous are)");
        }
        steps.add(behavior.equals("Isolated") || behavior.equals("Removed")
            ? isolated(pattern, behavior.equals("Removed")) : merged(pattern, behavior));
      }
      case "Digits" -> steps.add(isolated(Pattern.compile(
          n.path("individual_digits").asBoolean(false) ? "\\p{N}" : "\\p{N}+",
          Pattern.UNICODE_CHARACTER_CLASS), false));
      case "Metaspace" -> {
        Metaspace m = new Metaspace(file, n);
        steps.add(m::split);
      }
      default -> throw new IOException(file + ": \"pre_tokenizer\" of type \"" + type
          + "\" is not supported (ByteLevel, Split, Digits, Metaspace or a Sequence of them are)");
    }
  }

  /** Splits a piece into the pattern's matches and the text between them (dropped if removed). */
  private static PreStep isolated(Pattern p, boolean removeMatches) {
    return (piece, atStart, out) -> {
      Matcher m = p.matcher(piece);
      int at = 0;
      while (m.find()) {
        if (m.start() > at) {
          out.add(piece.substring(at, m.start()));
        }
        if (!removeMatches && m.end() > m.start()) {
          out.add(m.group());
        }
        at = m.end();
      }
      if (at < piece.length()) {
        out.add(piece.substring(at));
      }
    };
  }

  /**
   * Splits a piece at the pattern's matches, each match joined to a neighbour as the tokenizers
   * library's Split does: {@code MergedWithPrevious} appends a match to the text before it,
   * {@code MergedWithNext} prepends it to the text after it (a match next to another match stays
   * a piece of its own), {@code Contiguous} keeps a run of adjacent matches as one piece.
   * (Gemma 3 splits on a space MergedWithPrevious after its normalizer replaced every space: a
   * step that changes nothing, which a file may still name.)
   */
  static PreStep merged(Pattern p, String behavior) {
    return (piece, atStart, out) -> {
      List<String> seg = new ArrayList<>(); // the text between matches and the matches, in order
      List<Boolean> match = new ArrayList<>();
      Matcher m = p.matcher(piece);
      int at = 0;
      while (m.find()) {
        if (m.end() == m.start()) {
          continue; // an empty match splits nothing
        }
        if (m.start() > at) {
          seg.add(piece.substring(at, m.start()));
          match.add(false);
        }
        seg.add(m.group());
        match.add(true);
        at = m.end();
      }
      if (at < piece.length()) {
        seg.add(piece.substring(at));
        match.add(false);
      }
      List<StringBuilder> pieces = new ArrayList<>();
      int n = seg.size();
      boolean previousMatch = false;
      for (int k = 0; k < n; k++) {
        int i = behavior.equals("MergedWithNext") ? n - 1 - k : k; // from the end: join forward
        boolean join = switch (behavior) {
          case "Contiguous" -> match.get(i) == previousMatch;
          default -> match.get(i) && !previousMatch;
        };
        if (join && !pieces.isEmpty()) {
          StringBuilder last = pieces.get(pieces.size() - 1);
          if (behavior.equals("MergedWithNext")) {
            last.insert(0, seg.get(i));
          } else {
            last.append(seg.get(i));
          }
        } else {
          pieces.add(new StringBuilder(seg.get(i)));
        }
        previousMatch = match.get(i);
      }
      if (behavior.equals("MergedWithNext")) {
        java.util.Collections.reverse(pieces);
      }
      pieces.forEach(b -> out.add(b.toString()));
    };
  }

  /** The id of a special token named in tokenizer_config.json, or of the first known name. */
  private int specialId(Path file, String key, String... fallbacks) throws IOException {
    int id = specialIdOrMinus1(key);
    if (id >= 0) {
      return id;
    }
    for (String f : fallbacks) {
      int i = idOf(f);
      if (i >= 0) {
        return i;
      }
    }
    throw new IOException(file + ": no end-of-text token (\"" + key + "\" in " + CONFIG_FILE
        + ", or one of " + String.join(", ", fallbacks) + ")");
  }

  private int specialIdOrMinus1(String key) {
    String name = specialToken(key);
    return name == null ? -1 : idOf(name);
  }

  /** A special token's text from tokenizer_config.json (a string or {"content": ...}), or null. */
  public String specialToken(String key) {
    JsonNode v = tokenizerConfig.get(key);
    if (v == null || v.isNull()) {
      return null;
    }
    return v.isTextual() ? v.asText() : v.path("content").asText(null);
  }

  /** The id of a token given as text (an added token or a vocabulary entry), or -1. */
  public int idOf(String token) {
    for (Added a : addedByFirstChar.getOrDefault(token.isEmpty() ? '\0' : token.charAt(0),
        java.util.List.of())) {
      if (a.content().equals(token)) {
        return a.id();
      }
    }
    return bpe.id(token);
  }

  /** tokenizer_config.json's fields ({@code chat_template}, special tokens), empty if absent. */
  public JsonNode config() {
    return tokenizerConfig;
  }

  @Override
  public int[] encode(String text) {
    String t = ByteLevelBpe.replaceLoneSurrogates(text);
    List<Integer> out = new ArrayList<>();
    int start = 0; // start of the plain text not yet encoded
    int i = 0;
    boolean stripNext = false; // the previous added token has rstrip
    while (i < t.length()) {
      Added a = addedAt(t, i);
      if (a == null) {
        i++;
        continue;
      }
      int end = i;
      if (a.lstrip()) {
        while (end > start && Character.isWhitespace(t.charAt(end - 1))) {
          end--;
        }
      }
      encodePlain(t.substring(start, end), start == 0, stripNext, out);
      out.add(a.id());
      i += a.content().length();
      stripNext = a.rstrip();
      start = i;
    }
    encodePlain(t.substring(start), start == 0, stripNext, out);
    return out.stream().mapToInt(Integer::intValue).toArray();
  }

  /** The longest added token starting at {@code i}, or null. */
  private Added addedAt(String t, int i) {
    List<Added> candidates = addedByFirstChar.get(t.charAt(i));
    if (candidates != null) {
      for (Added a : candidates) { // longest first
        if (t.startsWith(a.content(), i)) {
          return a;
        }
      }
    }
    return null;
  }

  /** Encodes the text between added tokens; {@code atStart}: it starts the whole text. */
  private void encodePlain(String s, boolean atStart, boolean stripLeading, List<Integer> out) {
    if (stripLeading) {
      int k = 0;
      while (k < s.length() && Character.isWhitespace(s.charAt(k))) {
        k++;
      }
      s = s.substring(k);
    }
    if (s.isEmpty()) {
      return;
    }
    for (UnaryOperator<String> f : normalizers) {
      s = f.apply(s);
    }
    if (addPrefixSpace && !s.startsWith(" ")) {
      s = " " + s;
    }
    List<String> pieces = List.of(s);
    for (PreStep step : pre) {
      List<String> next = new ArrayList<>();
      for (int i = 0; i < pieces.size(); i++) {
        step.split(pieces.get(i), atStart && i == 0, next);
      }
      pieces = next;
    }
    for (String p : pieces) {
      for (int id : bpe.encodePiece(p)) {
        out.add(id);
      }
    }
  }

  @Override
  public String decode(int[] ids, boolean skipSpecial) {
    if (pieceDecoder == null) {
      return ByteLevelBpe.decode(tokens, ids, id -> skipSpecial && special[id],
          addedById::containsKey);
    }
    List<String> t = new ArrayList<>(ids.length);
    for (int id : ids) {
      if (id >= 0 && id < tokens.length && tokens[id] != null && !(skipSpecial && special[id])) {
        t.add(tokens[id]);
      }
    }
    return pieceDecoder.decode(t);
  }

  /** A SentencePiece-style token keeps the space its {@code ▁} stands for. */
  @Override
  public String tokenText(int id) {
    if (pieceDecoder == null || id < 0 || id >= tokens.length || tokens[id] == null) {
      return Tokenizer.super.tokenText(id);
    }
    return pieceDecoder.decodeContinuation(List.of(tokens[id]));
  }

  @Override
  public int vocabSize() {
    return tokens.length;
  }

  @Override
  public int eos() {
    return eos;
  }

  @Override
  public int pad() {
    return pad;
  }

  /** The end-of-text token and every {@code eos_token_id} of generation_config.json. */
  @Override
  public boolean isEnd(int id) {
    return ends.contains(id);
  }

  /** The beginning-of-text token's id, or -1 when the tokenizer names none. */
  public int bos() {
    return bos;
  }

  /**
   * Writes tokenizer.json, tokenizer_config.json and generation_config.json (those loaded)
   * unchanged.
   */
  @Override
  public void save(Path dir) throws IOException {
    AtomicFiles.write(dir.resolve(FILE), f -> Files.write(f, json));
    if (config != null) {
      AtomicFiles.write(dir.resolve(CONFIG_FILE), f -> Files.write(f, config));
    }
    if (generation != null) {
      AtomicFiles.write(dir.resolve(GENERATION_FILE), f -> Files.write(f, generation));
    }
  }
}
