package org.sdpo.transformer.tokenizer;

/**
 * A tokenizer.json's BPE model: byte-level ({@link ByteLevelBpe}) or over characters
 * ({@link PieceBpe}).
 */
interface BpeModel {
  /** The ids of one pre-tokenized piece of text. */
  int[] encodePiece(String piece);

  /** The id of a vocabulary entry, or -1. */
  int id(String token);
}
