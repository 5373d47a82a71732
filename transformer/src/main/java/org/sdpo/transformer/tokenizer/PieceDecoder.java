package org.sdpo.transformer.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.UnaryOperator;
import java.util.regex.Pattern;

/**
 * The {@code decoder} of a tokenizer.json that is not byte-level: a chain of steps, each taking
 * the list of token strings and giving a new list, as the tokenizers library's
 * {@code decode_chain} does, the strings joined at the end. Llama 2's chain is
 * {@code Replace(▁ -> " "), ByteFallback, Fuse, Strip(" ", 1, 0)}; Gemma's the same without
 * {@code Strip}; Mistral's and TinyLlama's newer files say {@code Metaspace}. Added tokens go
 * through the chain like any other token, as in the library.
 */
final class PieceDecoder {
  /**
   * One step; {@code continuation}: the tokens follow others, so the rules for the start of a
   * text (Strip's start, Metaspace's first token) do not apply.
   */
  private interface Step {
    List<String> apply(List<String> tokens, boolean continuation);
  }

  private final List<Step> steps;

  private PieceDecoder(List<Step> steps) {
    this.steps = steps;
  }

  /** The chain a {@code decoder} node describes; a missing one joins the tokens with spaces. */
  static PieceDecoder of(Path file, JsonNode n) throws IOException {
    List<Step> steps = new ArrayList<>();
    if (n.isMissingNode() || n.isNull()) {
      steps.add((t, c) -> List.of(String.join(" ", t))); // the library's decode without a decoder
    } else {
      add(file, n, steps);
    }
    return new PieceDecoder(steps);
  }

  /** The text of a whole sequence of tokens. */
  String decode(List<String> tokens) {
    return decode(tokens, false);
  }

  /** The text the tokens add after others: no rule for the start of a text applies. */
  String decodeContinuation(List<String> tokens) {
    return decode(tokens, true);
  }

  private String decode(List<String> tokens, boolean continuation) {
    List<String> t = tokens;
    for (Step s : steps) {
      t = s.apply(t, continuation);
    }
    return String.join("", t);
  }

  private static void add(Path file, JsonNode n, List<Step> steps)
      throws IOException {
    String type = n.path("type").asText();
    switch (type) {
      case "Sequence" -> {
        for (JsonNode d : n.path("decoders")) {
          add(file, d, steps);
        }
      }
      case "Replace" -> {
        Pattern p = HfTokenizer.pattern(file, "decoder", n.path("pattern"));
        String content = n.path("content").asText("");
        steps.add((t, cont) -> map(t, s -> HfTokenizer.replaceAll(p, s, content)));
      }
      case "ByteFallback" -> steps.add((t, cont) -> byteFallback(t));
      case "Fuse" -> steps.add((t, cont) -> List.of(String.join("", t)));
      case "Strip" -> {
        String c = n.path("content").asText(" ");
        if (c.codePointCount(0, c.length()) != 1) {
          throw new IOException(file + ": \"decoder\" Strip's \"content\" must be one character: "
              + n.path("content"));
        }
        int start = n.path("start").asInt(0);
        int stop = n.path("stop").asInt(0);
        steps.add((t, cont) -> map(t, s -> strip(s, c.codePointAt(0), cont ? 0 : start, stop)));
      }
      case "Metaspace" -> {
        String r = n.path("replacement").asText("\u2581");
        boolean dropOnFirst = !Metaspace.scheme(file, n).equals("never");
        steps.add((t, cont) -> metaspace(t, r, dropOnFirst && !cont));
      }
      default -> throw new IOException(file + ": \"decoder\" of type \"" + type + "\" is not "
          + "supported (ByteLevel, or Replace, ByteFallback, Fuse, Strip, Metaspace and a "
          + "Sequence of them)");
    }
  }

  private static List<String> map(List<String> tokens, UnaryOperator<String> f) {
    List<String> out = new ArrayList<>(tokens.size());
    for (String s : tokens) {
      out.add(f.apply(s));
    }
    return out;
  }

  /**
   * Runs of {@code <0xXX>} tokens become the text their bytes spell in UTF-8; a run that is not
   * valid UTF-8 becomes one U+FFFD per byte (the library's rule; transformers.js decodes such a
   * run leniently instead).
   */
  static List<String> byteFallback(List<String> tokens) {
    List<String> out = new ArrayList<>(tokens.size());
    ByteArrayOutputStream run = new ByteArrayOutputStream();
    CharsetDecoder utf8 = StandardCharsets.UTF_8.newDecoder()
        .onMalformedInput(CodingErrorAction.REPORT)
        .onUnmappableCharacter(CodingErrorAction.REPORT);
    for (String t : tokens) {
      int b = byteOf(t);
      if (b >= 0) {
        run.write(b);
        continue;
      }
      flush(run, utf8, out);
      out.add(t);
    }
    flush(run, utf8, out);
    return out;
  }

  /** The byte of a {@code <0xXX>} token, or -1. */
  private static int byteOf(String t) {
    if (t.length() != 6 || !t.startsWith("<0x") || t.charAt(5) != '>') {
      return -1;
    }
    int hi = Character.digit(t.charAt(3), 16);
    int lo = Character.digit(t.charAt(4), 16);
    return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
  }

  private static void flush(ByteArrayOutputStream run, CharsetDecoder utf8, List<String> out) {
    if (run.size() == 0) {
      return;
    }
    byte[] bytes = run.toByteArray();
    run.reset();
    try {
      out.add(utf8.reset().decode(ByteBuffer.wrap(bytes)).toString());
    } catch (CharacterCodingException e) {
      for (int i = 0; i < bytes.length; i++) {
        out.add("\ufffd");
      }
    }
  }

  /** Removes up to {@code start} leading and {@code stop} trailing {@code c} from one token. */
  static String strip(String s, int c, int start, int stop) {
    int from = 0;
    for (int k = 0; k < start && from < s.length() && s.codePointAt(from) == c; k++) {
      from += Character.charCount(c);
    }
    int to = s.length();
    for (int k = 0; k < stop && to > from && s.codePointBefore(to) == c; k++) {
      to -= Character.charCount(c);
    }
    return from == 0 && to == s.length() ? s : s.substring(from, to);
  }

  /**
   * The replacement character back to a space; in the first token it is dropped, every one of
   * them, unless the pre-tokenizer never prepends one (the library's rule).
   */
  static List<String> metaspace(List<String> tokens, String r, boolean dropOnFirst) {
    List<String> out = new ArrayList<>(tokens.size());
    for (int i = 0; i < tokens.size(); i++) {
      out.add(tokens.get(i).replace(r, i == 0 && dropOnFirst ? "" : " "));
    }
    return out;
  }
}
