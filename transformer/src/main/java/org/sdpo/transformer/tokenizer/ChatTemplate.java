package org.sdpo.transformer.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.sdpo.transformer.chat.Jinja;
import org.sdpo.transformer.io.TextFiles;
import org.sdpo.transformer.chat.JinjaException;

/**
 * A Hugging Face chat template: the Jinja program in {@code tokenizer_config.json}'s
 * {@code chat_template} (or in {@code chat_template.jinja}) that turns a list of messages
 * ({@code role}, {@code content}) into the model's prompt text. Rendered as transformers'
 * {@code apply_chat_template} renders it: {@code trim_blocks} and {@code lstrip_blocks} on, the
 * variables {@code messages}, {@code add_generation_prompt}, {@code tools} (none), the special
 * tokens of tokenizer_config.json and any extra ones (such as {@code enable_thinking}).
 */
public final class ChatTemplate {
  public static final String FILE = "chat_template.jinja";
  private static final ObjectMapper JSON = new ObjectMapper();

  private final Jinja template;
  private final String source;
  private final String where;
  private final Map<String, Object> specialTokens;

  private ChatTemplate(String source, String where, Map<String, Object> specialTokens) {
    this.where = where;
    this.source = source;
    this.specialTokens = specialTokens;
    try {
      this.template = Jinja.compile(source, true, true);
    } catch (JinjaException e) {
      throw new IllegalArgumentException(where + ": " + e.getMessage(), e);
    }
  }

  /**
   * The chat template of a model directory: {@code chat_template.jinja} if present, else
   * {@code tokenizer_config.json}'s {@code chat_template} (a string, or a list of named templates
   * of which "default" is taken). The special tokens (bos_token, eos_token, pad_token,
   * unk_token) come from tokenizer_config.json.
   *
   * @throws IOException naming the file when there is no template or it does not compile
   */
  public static ChatTemplate load(Path dir) throws IOException {
    Path cfgFile = dir.resolve(HfTokenizer.CONFIG_FILE);
    JsonNode cfg = JSON.createObjectNode();
    if (Files.exists(cfgFile)) {
      cfg = TextFiles.readTree(JSON, cfgFile, "JSON");
    }
    Map<String, Object> special = new LinkedHashMap<>();
    for (String k : List.of("bos_token", "eos_token", "pad_token", "unk_token")) {
      JsonNode v = cfg.path(k);
      String t = v.isTextual() ? v.asText() : v.path("content").asText(null);
      special.put(k, t == null ? "" : t);
    }
    Path jinjaFile = dir.resolve(FILE);
    String source = null;
    String where = cfgFile + ": \"chat_template\"";
    if (Files.exists(jinjaFile)) {
      source = TextFiles.readString(jinjaFile);
      where = jinjaFile.toString();
    } else if (cfg.path("chat_template").isTextual()) {
      source = cfg.get("chat_template").asText();
    } else if (cfg.path("chat_template").isArray()) {
      for (JsonNode named : cfg.get("chat_template")) {
        if (named.path("name").asText().equals("default")) {
          source = named.path("template").asText();
        }
      }
      if (source == null) {
        throw new IOException(cfgFile + ": \"chat_template\" lists no template named \"default\"");
      }
    }
    if (source == null) {
      throw new IOException(dir + ": no chat template (" + FILE + ", or \"chat_template\" in "
          + HfTokenizer.CONFIG_FILE + ")");
    }
    try {
      return new ChatTemplate(source, where, special);
    } catch (IllegalArgumentException e) {
      throw new IOException(e.getMessage(), e);
    }
  }

  /** A template from its source, with the given special tokens (bos_token, eos_token, ...). */
  public static ChatTemplate of(String source, Map<String, ?> specialTokens) {
    return new ChatTemplate(source, "chat template", new LinkedHashMap<>(specialTokens));
  }

  /** The template's Jinja source. */
  public String source() {
    return source;
  }

  /**
   * Whether a model directory has a chat template ({@code chat_template.jinja}, or a
   * {@code chat_template} field in a readable tokenizer_config.json). Whether it compiles is
   * {@link #load}'s concern, so a broken template is an error, not silently no template.
   */
  public static boolean exists(Path dir) {
    if (Files.exists(dir.resolve(FILE))) {
      return true;
    }
    Path cfg = dir.resolve(HfTokenizer.CONFIG_FILE);
    if (!Files.exists(cfg)) {
      return false;
    }
    try {
      JsonNode n = JSON.readTree(cfg.toFile());
      return n != null && n.hasNonNull("chat_template");
    } catch (IOException e) {
      return false;
    }
  }

  /**
   * The prompt text of a conversation.
   *
   * @param messages each a map with at least "role" and "content"
   * @param addGenerationPrompt end with the header of the assistant's next turn
   * @param extra further template variables (e.g. enable_thinking), may be empty
   * @throws IllegalArgumentException naming the template and line on a template error, or with
   *     the template's own message when it calls raise_exception
   */
  public String render(List<? extends Map<String, ?>> messages, boolean addGenerationPrompt,
      Map<String, ?> extra) {
    Map<String, Object> vars = new LinkedHashMap<>(specialTokens);
    vars.put("messages", messages);
    vars.put("tools", null);
    vars.put("documents", null);
    vars.put("add_generation_prompt", addGenerationPrompt);
    vars.putAll(extra);
    try {
      return template.render(vars);
    } catch (Jinja.RaisedException e) {
      throw new IllegalArgumentException(where + ": the template refused the messages: "
          + e.getMessage(), e);
    } catch (JinjaException e) {
      throw new IllegalArgumentException(where + ": " + e.getMessage(), e);
    }
  }

  /**
   * Removes every thinking block ({@code <think>...</think>} and the whitespace after it) from an
   * assistant message, as the reference SDPO implementation's
   * {@code remove_thinking_from_demonstration} does before a demonstration is shown to the
   * teacher (non-greedy, across lines).
   */
  public static String removeThinking(String text) {
    return THINK.matcher(text).replaceAll("");
  }

  private static final java.util.regex.Pattern THINK =
      java.util.regex.Pattern.compile("<think>.*?</think>\\s*", java.util.regex.Pattern.DOTALL);
}
