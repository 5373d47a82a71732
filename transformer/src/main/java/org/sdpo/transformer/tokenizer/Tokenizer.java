package org.sdpo.transformer.tokenizer;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Text to token ids and back. Never throws on odd input; unknown text maps to known tokens. */
public interface Tokenizer {
  int[] encode(String text);

  /** The text of the ids; special tokens are left out when {@code skipSpecial}. */
  String decode(int[] ids, boolean skipSpecial);

  int vocabSize();

  /**
   * The text one token adds when it follows others, as a viewer shows each token: its decode,
   * except where decoding treats the start of a text apart (a SentencePiece-style tokenizer drops
   * the space of the first {@code ▁}; here it stays).
   */
  default String tokenText(int id) {
    return decode(new int[] {id}, false);
  }

  /**
   * The ids of a prompt the model is to answer. A plain tokenizer encodes the text as it is; one
   * made by {@link ChatPrompts#of} renders it as the user's turn of the model's chat template,
   * with the header of the assistant's turn after it, as the reference renders student prompts
   * and teacher contexts.
   */
  default int[] encodePrompt(String text) {
    return encode(text);
  }

  /** The id of the end-of-text token. */
  int eos();

  /**
   * Whether sampling ends at this token: the end-of-text token, and for a chat model the others
   * its {@code generation_config.json} names (Gemma's {@code <end_of_turn>}, Llama 3's
   * {@code <|eot_id|>}).
   */
  default boolean isEnd(int id) {
    return id == eos();
  }

  /** The id of the padding token. */
  int pad();

  /** Writes the tokenizer's files into a checkpoint directory. */
  void save(Path dir) throws IOException;

  /**
   * The tokenizer stored in a checkpoint directory: Hugging Face's tokenizer.json, GPT-2's
   * vocab.json + merges.txt, or character-level.
   */
  static Tokenizer load(Path dir) throws IOException {
    if (!Files.isDirectory(dir)) {
      throw new java.nio.file.NoSuchFileException(dir + " is not a directory (a tokenizer is read "
          + "from a model's directory)");
    }
    if (Files.exists(dir.resolve(HfTokenizer.FILE))) {
      return HfTokenizer.load(dir.resolve(HfTokenizer.FILE));
    }
    if (Files.exists(dir.resolve("vocab.json")) && Files.exists(dir.resolve("merges.txt"))) {
      return Gpt2Bpe.load(dir.resolve("vocab.json"), dir.resolve("merges.txt"));
    }
    if (Files.exists(dir.resolve(CharTokenizer.FILE))) {
      return CharTokenizer.load(dir.resolve(CharTokenizer.FILE));
    }
    if (Files.exists(dir.resolve("tokenizer.model"))) {
      throw new IOException(dir + ": tokenizer.model (SentencePiece's own format) is not read; a "
          + "tokenizer.json is (Python's transformers writes one: AutoTokenizer.from_pretrained("
          + "DIR).save_pretrained(DIR))");
    }
    throw new IOException(dir + ": no tokenizer files (tokenizer.json, vocab.json + merges.txt, or "
        + CharTokenizer.FILE + ")");
  }
}
