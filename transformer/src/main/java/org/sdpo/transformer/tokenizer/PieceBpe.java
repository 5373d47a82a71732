package org.sdpo.transformer.tokenizer;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The BPE of SentencePiece-converted models (Llama 2, Mistral, Gemma, TinyLlama): the symbols are
 * Unicode characters, not bytes, and spaces reach it already replaced by {@code ▁}. A character
 * outside the vocabulary becomes its UTF-8 bytes as {@code <0xXX>} tokens ({@code byte_fallback})
 * where the vocabulary has them all, else the unknown token (consecutive ones fused into one with
 * {@code fuse_unk}), else nothing, as the tokenizers library builds a word before merging.
 */
final class PieceBpe implements BpeModel {
  private final Map<String, Integer> vocab;
  private final BpeMerges merges;
  private final boolean byteFallback;
  private final String unk; // or null
  private final boolean fuseUnk;
  private final boolean ignoreMerges;
  private final Map<String, int[]> cache = new ConcurrentHashMap<>();

  PieceBpe(Map<String, Integer> vocab, Map<String, Integer> ranks, boolean byteFallback,
      String unk, boolean fuseUnk, boolean ignoreMerges) {
    this.vocab = vocab;
    this.merges = new BpeMerges(ranks);
    this.byteFallback = byteFallback;
    this.unk = unk != null && vocab.containsKey(unk) ? unk : null;
    this.fuseUnk = fuseUnk;
    this.ignoreMerges = ignoreMerges;
  }

  /** The id of a vocabulary entry, or -1. */
  @Override
  public int id(String token) {
    return vocab.getOrDefault(token, -1);
  }

  /** The byte-fallback token of one byte: {@code <0x0A>}. */
  static String byteToken(int b) {
    return String.format("<0x%02X>", b & 0xff);
  }

  /** The ids of one pre-tokenized piece (cached for short pieces). */
  @Override
  public int[] encodePiece(String piece) {
    int[] ids = cache.get(piece);
    if (ids == null) {
      Integer whole = ignoreMerges ? vocab.get(piece) : null;
      ids = whole != null ? new int[] {whole} : bpe(piece);
      if (piece.length() < 64 && cache.size() < 100_000) {
        cache.put(piece, ids);
      }
    }
    return ids;
  }

  private int[] bpe(String piece) {
    List<String> symbols = new ArrayList<>(piece.length());
    boolean lastWasUnk = false;
    for (int i = 0; i < piece.length(); ) {
      int cp = piece.codePointAt(i);
      String ch = new String(Character.toChars(cp));
      i += ch.length();
      if (vocab.containsKey(ch)) {
        symbols.add(ch);
        lastWasUnk = false;
      } else if (byteFallback && addBytes(ch, symbols)) {
        lastWasUnk = false;
      } else if (unk != null) {
        if (!(fuseUnk && lastWasUnk)) {
          symbols.add(unk);
        }
        lastWasUnk = true;
      }
    }
    List<String> merged = merges.merge(symbols);
    int[] ids = new int[merged.size()];
    int n = 0;
    for (String s : merged) {
      Integer id = vocab.get(s);
      if (id != null) { // a merge whose result is not a token (an inconsistent file) is dropped
        ids[n++] = id;
      }
    }
    return n == ids.length ? ids : java.util.Arrays.copyOf(ids, n);
  }

  /** Adds a character's byte tokens if the vocabulary has every one of them. */
  private boolean addBytes(String ch, List<String> symbols) {
    byte[] bytes = ch.getBytes(StandardCharsets.UTF_8);
    String[] tokens = new String[bytes.length];
    for (int k = 0; k < bytes.length; k++) {
      tokens[k] = byteToken(bytes[k]);
      if (!vocab.containsKey(tokens[k])) {
        return false;
      }
    }
    symbols.addAll(List.of(tokens));
    return true;
  }
}
