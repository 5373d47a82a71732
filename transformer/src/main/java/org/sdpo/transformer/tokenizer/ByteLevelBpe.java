package org.sdpo.transformer.tokenizer;

import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The byte-level BPE both GPT-2's files and Hugging Face's {@code tokenizer.json} describe: a
 * pre-tokenized piece's UTF-8 bytes are mapped to printable characters by GPT-2's byte-to-unicode
 * table, and adjacent symbols are merged lowest merge rank first ({@link BpeMerges}). Decoding
 * maps the characters back to bytes and replaces invalid UTF-8 by U+FFFD.
 */
final class ByteLevelBpe implements BpeModel {
  static final char[] BYTE_TO_CHAR = new char[256];
  static final int[] CHAR_TO_BYTE = new int[512];

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
  private final BpeMerges merges;
  private final boolean ignoreMerges;
  private final Map<String, int[]> cache = new ConcurrentHashMap<>();

  /**
   * @param vocab token (in byte characters) to id
   * @param ranks merge "left right" to its rank, lower merged first
   * @param ignoreMerges a piece that is a token as a whole is that token, unmerged (Llama 3)
   */
  ByteLevelBpe(Map<String, Integer> vocab, Map<String, Integer> ranks, boolean ignoreMerges) {
    this.vocab = vocab;
    this.merges = new BpeMerges(ranks);
    this.ignoreMerges = ignoreMerges;
  }

  /** The id of a vocabulary entry (in byte characters), or -1. */
  @Override
  public int id(String token) {
    return vocab.getOrDefault(token, -1);
  }

  /** The ids of one pre-tokenized piece of text (cached for short pieces). */
  @Override
  public int[] encodePiece(String piece) {
    int[] ids = cache.get(piece);
    if (ids == null) {
      String word = toByteChars(piece);
      Integer whole = ignoreMerges ? vocab.get(word) : null;
      ids = whole != null ? new int[] {whole} : bpe(word);
      if (piece.length() < 64 && cache.size() < 100_000) {
        cache.put(piece, ids);
      }
    }
    return ids;
  }

  /**
   * The text of {@code ids}: each token's byte characters decoded as UTF-8 (invalid bytes become
   * U+FFFD), a {@code verbatim} token's text as it is (added tokens), ids outside the table or
   * {@code skipped} left out.
   */
  static String decode(String[] tokens, int[] ids, java.util.function.IntPredicate skipped,
      java.util.function.IntPredicate verbatim) {
    ByteBuffer bytes = ByteBuffer.allocate(Math.max(16, ids.length * 16));
    StringBuilder out = new StringBuilder();
    for (int id : ids) {
      if (id < 0 || id >= tokens.length || tokens[id] == null || skipped.test(id)) {
        continue;
      }
      if (verbatim.test(id)) {
        flush(bytes, out);
        out.append(tokens[id]);
      } else {
        appendToken(tokens[id], bytes, out);
      }
    }
    flush(bytes, out);
    return out.toString();
  }

  /**
   * Appends a token's text: its byte characters go into {@code bytes} (decoded when flushed),
   * any other character straight to {@code out}.
   */
  static void appendToken(String tok, ByteBuffer bytes, StringBuilder out) {
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

  static String replaceLoneSurrogates(String s) {
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

  static String toByteChars(String piece) {
    byte[] bytes = piece.getBytes(StandardCharsets.UTF_8);
    char[] cs = new char[bytes.length];
    for (int i = 0; i < bytes.length; i++) {
      cs[i] = BYTE_TO_CHAR[bytes[i] & 0xff];
    }
    return new String(cs);
  }

  /** Merges the byte-characters of one piece, lowest rank first, and maps symbols to ids. */
  int[] bpe(String word) {
    List<String> chars = new ArrayList<>(word.length());
    for (int i = 0; i < word.length(); i++) {
      chars.add(String.valueOf(word.charAt(i)));
    }
    List<Integer> ids = new ArrayList<>();
    for (String sym : merges.merge(chars)) {
      Integer id = vocab.get(sym);
      if (id != null) {
        ids.add(id);
      } else { // not in the vocabulary (a partial vocabulary): fall back to single bytes
        for (char ch : sym.toCharArray()) {
          Integer b = vocab.get(String.valueOf(ch));
          if (b != null) {
            ids.add(b);
          }
        }
      }
    }
    return ids.stream().mapToInt(Integer::intValue).toArray();
  }

  static void flush(ByteBuffer bytes, StringBuilder out) {
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

}
