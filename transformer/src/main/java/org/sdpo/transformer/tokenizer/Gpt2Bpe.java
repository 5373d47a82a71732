package org.sdpo.transformer.tokenizer;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.sdpo.transformer.io.AtomicFiles;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * GPT-2's byte-level BPE, from {@code vocab.json} (token to id) and {@code merges.txt} (merge
 * ranks): text is split by GPT-2's pre-tokenization pattern, each piece's UTF-8 bytes are mapped
 * to printable characters by GPT-2's byte-to-unicode table, and pairs are merged lowest rank first
 * ({@link ByteLevelBpe}). Lone surrogates are encoded as U+FFFD; decoding replaces invalid UTF-8
 * by U+FFFD; nothing throws.
 */
public final class Gpt2Bpe implements Tokenizer {
  /** GPT-2's pre-tokenization pattern (contractions, letters, numbers, other, whitespace). */
  static final Pattern PRETOKENIZE = Pattern.compile(
      "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+",
      Pattern.UNICODE_CHARACTER_CLASS);

  private final Map<String, Integer> vocab;
  private final String[] tokens;
  private final ByteLevelBpe bpe;
  private final List<String> mergeLines;

  private Gpt2Bpe(Map<String, Integer> vocab, List<String> mergeLines) throws IOException {
    this.vocab = vocab;
    this.mergeLines = mergeLines;
    int max = vocab.values().stream().mapToInt(Integer::intValue).max().orElse(-1);
    tokens = new String[max + 1];
    vocab.forEach((t, id) -> tokens[id] = t);
    Map<String, Integer> ranks = new HashMap<>();
    for (int i = 0; i < mergeLines.size(); i++) {
      String line = mergeLines.get(i);
      int sp = line.indexOf(' ');
      if (sp <= 0 || sp != line.lastIndexOf(' ')) {
        throw new IOException("merges.txt: line " + (i + 2) + " is not two tokens: '" + line + "'");
      }
      ranks.put(line, i);
    }
    bpe = new ByteLevelBpe(vocab, ranks, false);
  }

  /** Loads GPT-2's {@code vocab.json} and {@code merges.txt}. */
  public static Gpt2Bpe load(Path vocabJson, Path mergesTxt) throws IOException {
    Map<String, Integer> vocab;
    try {
      vocab = new ObjectMapper().readValue(vocabJson.toFile(), new TypeReference<>() {});
    } catch (IOException e) {
      throw new IOException(vocabJson + ": not a JSON map of token to id: "
          + org.sdpo.transformer.io.TextFiles.reason(e), e);
    }
    List<String> lines = new ArrayList<>();
    for (String l : org.sdpo.transformer.io.TextFiles.readLines(mergesTxt)) {
      if (!l.startsWith("#version") && !l.isBlank()) {
        lines.add(l);
      }
    }
    return new Gpt2Bpe(vocab, lines);
  }

  @Override
  public int[] encode(String text) {
    String t = ByteLevelBpe.replaceLoneSurrogates(text);
    List<Integer> out = new ArrayList<>();
    Matcher m = PRETOKENIZE.matcher(t);
    while (m.find()) {
      for (int id : bpe.encodePiece(m.group())) {
        out.add(id);
      }
    }
    return out.stream().mapToInt(Integer::intValue).toArray();
  }

  @Override
  public String decode(int[] ids, boolean skipSpecial) {
    int eos = eos();
    return ByteLevelBpe.decode(tokens, ids, id -> skipSpecial && id == eos, id -> false);
  }

  @Override
  public int vocabSize() {
    return tokens.length;
  }

  @Override
  public int eos() {
    Integer id = vocab.get("<|endoftext|>");
    return id == null ? tokens.length - 1 : id;
  }

  @Override
  public int pad() {
    return eos();
  }

  @Override
  public void save(Path dir) throws IOException {
    AtomicFiles.write(dir.resolve("vocab.json"), v -> new ObjectMapper().writeValue(v.toFile(), vocab));
    List<String> lines = new ArrayList<>();
    lines.add("#version: 0.2");
    lines.addAll(mergeLines);
    AtomicFiles.write(dir.resolve("merges.txt"), m -> Files.write(m, lines, StandardCharsets.UTF_8));
  }
}
