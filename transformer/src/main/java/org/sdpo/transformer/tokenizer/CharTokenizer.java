package org.sdpo.transformer.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Path;
import org.sdpo.transformer.io.AtomicFiles;
import java.util.HashMap;
import java.util.Map;

/**
 * One token per character of a fixed alphabet, after four special tokens: {@code <|pad|>} 0,
 * {@code <|bos|>} 1, {@code <|eos|>} 2, {@code <|unk|>} 3 (any character outside the alphabet).
 * Stored as {@code char_tokenizer.json}.
 */
public final class CharTokenizer implements Tokenizer {
  public static final String FILE = "char_tokenizer.json";
  public static final int PAD = 0;
  public static final int BOS = 1;
  public static final int EOS = 2;
  public static final int UNK = 3;
  static final String[] SPECIALS = {"<|pad|>", "<|bos|>", "<|eos|>", "<|unk|>"};

  /** Printable ASCII and newline: enough for the synthetic tasks. */
  public static final String ASCII;

  static {
    StringBuilder sb = new StringBuilder("\n");
    for (char c = 32; c < 127; c++) {
      sb.append(c);
    }
    ASCII = sb.toString();
  }

  private final String alphabet;
  private final Map<Integer, Integer> ids = new HashMap<>();

  public CharTokenizer(String alphabet) {
    this.alphabet = alphabet;
    int[] cps = alphabet.codePoints().toArray();
    for (int i = 0; i < cps.length; i++) {
      if (ids.putIfAbsent(cps[i], SPECIALS.length + i) != null) {
        throw new IllegalArgumentException("char tokenizer: character U+"
            + Integer.toHexString(cps[i]) + " appears twice in the alphabet");
      }
    }
  }

  /** Printable ASCII plus newline (99 tokens). */
  public static CharTokenizer ascii() {
    return new CharTokenizer(ASCII);
  }

  @Override
  public int[] encode(String text) {
    return text.codePoints().map(cp -> ids.getOrDefault(cp, UNK)).toArray();
  }

  @Override
  public String decode(int[] tokens, boolean skipSpecial) {
    int[] cps = alphabet.codePoints().toArray();
    StringBuilder sb = new StringBuilder();
    for (int t : tokens) {
      if (t >= SPECIALS.length && t < SPECIALS.length + cps.length) {
        sb.appendCodePoint(cps[t - SPECIALS.length]);
      } else if (!skipSpecial) {
        sb.append(t >= 0 && t < SPECIALS.length ? SPECIALS[t] : "<|" + t + "|>");
      }
    }
    return sb.toString();
  }

  @Override
  public int vocabSize() {
    return SPECIALS.length + (int) alphabet.codePoints().count();
  }

  @Override
  public int eos() {
    return EOS;
  }

  @Override
  public int pad() {
    return PAD;
  }

  @Override
  public void save(Path dir) throws IOException {
    ObjectMapper m = new ObjectMapper();
    ObjectNode n = m.createObjectNode();
    n.put("type", "char");
    var sp = n.putArray("specials");
    for (String s : SPECIALS) {
      sp.add(s);
    }
    n.put("alphabet", alphabet);
    AtomicFiles.writeJson(dir.resolve(FILE), n);
  }

  public static CharTokenizer load(Path file) throws IOException {
    JsonNode n = org.sdpo.transformer.io.TextFiles.readTree(new ObjectMapper(), file, "JSON");
    if (n == null || !"char".equals(n.path("type").asText()) || !n.has("alphabet")) {
      throw new IOException(file + ": not a character tokenizer (needs \"type\": \"char\" and "
          + "\"alphabet\")");
    }
    return new CharTokenizer(n.get("alphabet").asText());
  }
}
