package org.sdpo.transformer.tokenizer;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.sdpo.transformer.io.AtomicFiles;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * GPT-2's byte-level BPE, from {@code vocab.json} (token to id) and {@code merges.txt} (merge
 * ranks): text is split by GPT-2's pre-tokenization pattern, each piece's UTF-8 bytes are mapped
 * to printable characters by GPT-2's byte-to-unicode table, and pairs are merged lowest rank first.
 * Lone surrogates are encoded as U+FFFD; decoding replaces invalid UTF-8 by U+FFFD; nothing
 * throws. Merging uses a priority queue over a linked list, so a 100,000-character run costs
 * O(n log n), not O(n^2).
 */
public final class Gpt2Bpe implements Tokenizer {
  /** GPT-2's pre-tokenization pattern (contractions, letters, numbers, other, whitespace). */
  static final Pattern PRETOKENIZE = Pattern.compile(
      "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+",
      Pattern.UNICODE_CHARACTER_CLASS);

  private static final char[] BYTE_TO_CHAR = new char[256];
  private static final int[] CHAR_TO_BYTE = new int[512];

  static {
    java.util.Arrays.fill(CHAR_TO_BYTE, -1);
    int n = 0;
    for (int b = 0; b < 256; b++) {
      boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
      char c = printable ? (char) b : (char) (256 + n++);
      BYTE_TO_CHAR[b] = c;
      CHAR_TO_BYTE[c] = b;
    }
  }

  private final Map<String, Integer> vocab;
  private final String[] tokens;
  private final Map<String, Integer> ranks;
  private final List<String> mergeLines;
  private final Map<String, int[]> cache = new ConcurrentHashMap<>();

  private Gpt2Bpe(Map<String, Integer> vocab, List<String> mergeLines) throws IOException {
    this.vocab = vocab;
    this.mergeLines = mergeLines;
    int max = vocab.values().stream().mapToInt(Integer::intValue).max().orElse(-1);
    tokens = new String[max + 1];
    vocab.forEach((t, id) -> tokens[id] = t);
    ranks = new HashMap<>();
    for (int i = 0; i < mergeLines.size(); i++) {
      String line = mergeLines.get(i);
      int sp = line.indexOf(' ');
      if (sp <= 0 || sp != line.lastIndexOf(' ')) {
        throw new IOException("merges.txt: line " + (i + 2) + " is not two tokens: '" + line + "'");
      }
      ranks.put(line, i);
    }
  }

  /** Loads GPT-2's {@code vocab.json} and {@code merges.txt}. */
  public static Gpt2Bpe load(Path vocabJson, Path mergesTxt) throws IOException {
    Map<String, Integer> vocab;
    try {
      vocab = new ObjectMapper().readValue(vocabJson.toFile(), new TypeReference<>() {});
    } catch (IOException e) {
      throw new IOException(vocabJson + ": not a JSON map of token to id: " + e.getMessage(), e);
    }
    List<String> lines = new ArrayList<>();
    for (String l : Files.readAllLines(mergesTxt, StandardCharsets.UTF_8)) {
      if (!l.startsWith("#version") && !l.isBlank()) {
        lines.add(l);
      }
    }
    return new Gpt2Bpe(vocab, lines);
  }

  @Override
  public int[] encode(String text) {
    String t = replaceLoneSurrogates(text);
    List<Integer> out = new ArrayList<>();
    Matcher m = PRETOKENIZE.matcher(t);
    while (m.find()) {
      String piece = m.group();
      int[] ids = cache.get(piece);
      if (ids == null) {
        ids = bpe(toByteChars(piece));
        if (piece.length() < 64 && cache.size() < 100_000) {
          cache.put(piece, ids);
        }
      }
      for (int id : ids) {
        out.add(id);
      }
    }
    return out.stream().mapToInt(Integer::intValue).toArray();
  }

  private static String replaceLoneSurrogates(String s) {
    StringBuilder sb = null;
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      boolean lone = Character.isHighSurrogate(c)
          ? i + 1 >= s.length() || !Character.isLowSurrogate(s.charAt(i + 1))
          : Character.isLowSurrogate(c) && (i == 0 || !Character.isHighSurrogate(s.charAt(i - 1)));
      if (lone && sb == null) {
        sb = new StringBuilder(s.substring(0, i));
      }
      if (sb != null) {
        sb.append(lone ? '\ufffd' : c);
      }
    }
    return sb == null ? s : sb.toString();
  }

  private static String toByteChars(String piece) {
    byte[] bytes = piece.getBytes(StandardCharsets.UTF_8);
    char[] cs = new char[bytes.length];
    for (int i = 0; i < bytes.length; i++) {
      cs[i] = BYTE_TO_CHAR[bytes[i] & 0xff];
    }
    return new String(cs);
  }

  private record Candidate(int rank, int left, String leftSym, String rightSym)
      implements Comparable<Candidate> {
    @Override
    public int compareTo(Candidate o) {
      return rank != o.rank ? Integer.compare(rank, o.rank) : Integer.compare(left, o.left);
    }
  }

  /** Merges the byte-characters of one piece, lowest rank first, and maps symbols to ids. */
  private int[] bpe(String word) {
    int n = word.length();
    String[] sym = new String[n];
    int[] prev = new int[n];
    int[] next = new int[n];
    for (int i = 0; i < n; i++) {
      sym[i] = String.valueOf(word.charAt(i));
      prev[i] = i - 1;
      next[i] = i + 1 < n ? i + 1 : -1;
    }
    PriorityQueue<Candidate> pq = new PriorityQueue<>();
    for (int i = 0; i + 1 < n; i++) {
      offer(pq, i, sym[i], sym[i + 1]);
    }
    while (!pq.isEmpty()) {
      Candidate c = pq.poll();
      int l = c.left();
      int r = next[l];
      // stale if either side changed since the candidate was queued
      if (sym[l] == null || r < 0 || !sym[l].equals(c.leftSym()) || !sym[r].equals(c.rightSym())) {
        continue;
      }
      sym[l] = sym[l] + sym[r];
      sym[r] = null;
      next[l] = next[r];
      if (next[r] >= 0) {
        prev[next[r]] = l;
      }
      if (prev[l] >= 0) {
        offer(pq, prev[l], sym[prev[l]], sym[l]);
      }
      if (next[l] >= 0) {
        offer(pq, l, sym[l], sym[next[l]]);
      }
    }
    List<Integer> ids = new ArrayList<>();
    for (int i = 0; i >= 0 && i < n; i = next[i]) {
      Integer id = vocab.get(sym[i]);
      if (id != null) {
        ids.add(id);
      } else { // not in the vocabulary (a partial vocabulary): fall back to single bytes
        for (char ch : sym[i].toCharArray()) {
          Integer b = vocab.get(String.valueOf(ch));
          if (b != null) {
            ids.add(b);
          }
        }
      }
    }
    return ids.stream().mapToInt(Integer::intValue).toArray();
  }

  private void offer(PriorityQueue<Candidate> pq, int left, String a, String b) {
    Integer rank = ranks.get(a + " " + b);
    if (rank != null) {
      pq.add(new Candidate(rank, left, a, b));
    }
  }

  @Override
  public String decode(int[] ids, boolean skipSpecial) {
    ByteBuffer bytes = ByteBuffer.allocate(Math.max(16, ids.length * 16));
    StringBuilder out = new StringBuilder();
    for (int id : ids) {
      if (id < 0 || id >= tokens.length || tokens[id] == null) {
        continue;
      }
      String tok = tokens[id];
      if (skipSpecial && id == eos()) {
        continue;
      }
      for (int i = 0; i < tok.length(); i++) {
        char c = tok.charAt(i);
        int b = c < CHAR_TO_BYTE.length ? CHAR_TO_BYTE[c] : -1;
        if (b < 0) {
          flush(bytes, out);
          out.append(c);
        } else {
          if (!bytes.hasRemaining()) {
            flush(bytes, out);
          }
          bytes.put((byte) b);
        }
      }
    }
    flush(bytes, out);
    return out.toString();
  }

  private static void flush(ByteBuffer bytes, StringBuilder out) {
    bytes.flip();
    CharsetDecoder d = StandardCharsets.UTF_8.newDecoder()
        .onMalformedInput(CodingErrorAction.REPLACE)
        .onUnmappableCharacter(CodingErrorAction.REPLACE);
    try {
      CharBuffer cb = d.decode(bytes);
      out.append(cb);
    } catch (java.nio.charset.CharacterCodingException e) {
      throw new IllegalStateException(e); // REPLACE never throws
    }
    bytes.clear();
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
