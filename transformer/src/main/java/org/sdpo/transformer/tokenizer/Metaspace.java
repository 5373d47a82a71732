package org.sdpo.transformer.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/**
 * The {@code Metaspace} pre-tokenizer of SentencePiece-converted models: spaces become the
 * replacement character ({@code ▁}), which is prepended to a piece that does not start with it:
 * always, never, or only to the piece at the start of the text ({@code prepend_scheme: first},
 * Mistral's and TinyLlama's files; text after an added token gets none). With {@code split} the
 * piece is then cut before every replacement character, each part keeping the one it starts with.
 */
final class Metaspace {
  private final String replacement;
  private final String scheme;
  private final boolean split;

  Metaspace(Path file, JsonNode n) throws IOException {
    String r = n.path("replacement").asText("\u2581");
    if (r.codePointCount(0, r.length()) != 1) {
      throw new IOException(file + ": \"pre_tokenizer\" Metaspace's \"replacement\" must be one "
          + "character: " + n.path("replacement"));
    }
    this.replacement = r;
    this.scheme = scheme(file, n);
    this.split = n.path("split").asBoolean(true);
  }

  /**
   * {@code prepend_scheme} (always, first, never), or, in files written before it existed,
   * {@code add_prefix_space} (true: always).
   */
  static String scheme(Path file, JsonNode n) throws IOException {
    if (n.hasNonNull("prepend_scheme")) {
      String s = n.get("prepend_scheme").asText();
      if (!List.of("always", "first", "never").contains(s)) {
        throw new IOException(file + ": Metaspace's \"prepend_scheme\" is \"" + s
            + "\" (always, first or never)");
      }
      return s;
    }
    return n.path("add_prefix_space").asBoolean(true) ? "always" : "never";
  }

  /**
   * @param atStart whether the piece starts the text (the scheme {@code first} prepends only
   *     there)
   */
  void split(String piece, boolean atStart, List<String> out) {
    String s = piece.replace(" ", replacement);
    if (!s.startsWith(replacement)
        && (scheme.equals("always") || (scheme.equals("first") && atStart))) {
      s = replacement + s;
    }
    if (!split) {
      out.add(s);
      return;
    }
    int from = 0;
    for (int at = s.indexOf(replacement, 1); at >= 0; at = s.indexOf(replacement, at + 1)) {
      out.add(s.substring(from, at));
      from = at;
    }
    out.add(s.substring(from));
  }
}
