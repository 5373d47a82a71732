package org.sdpo.transformer.tokenizer;

import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A tokenizer whose prompts go through the model's chat template: {@link #encodePrompt} renders
 * the text as a single user message with {@code add_generation_prompt} and the template's extra
 * variables (such as {@code enable_thinking}), then encodes it; everything else is the wrapped
 * tokenizer's. Student prompts and teacher contexts are formatted the same way, so the teacher
 * scores the attempt's exact tokens after an assistant header, as the student produced them.
 */
public final class ChatPrompts implements Tokenizer {
  private final Tokenizer base;
  private final ChatTemplate template;
  private final Map<String, Object> extra;

  private ChatPrompts(Tokenizer base, ChatTemplate template, Map<String, Object> extra) {
    this.base = base;
    this.template = template;
    this.extra = extra;
  }

  /** {@code base} with prompts rendered by {@code template} with the variables {@code extra}. */
  public static ChatPrompts of(Tokenizer base, ChatTemplate template, Map<String, ?> extra) {
    return new ChatPrompts(base, template, new LinkedHashMap<>(extra));
  }

  /**
   * The tokenizer of a model directory for prompts.
   *
   * @param mode "auto" (the chat template when the directory has one), "true" (it must) or
   *     "false" (plain prompts)
   * @param enableThinking the template's {@code enable_thinking}, or null to leave it unset
   */
  public static Tokenizer forModel(Path dir, String mode, Boolean enableThinking)
      throws IOException {
    Tokenizer tok = Tokenizer.load(dir);
    boolean use = switch (mode) {
      case "true" -> true;
      case "false" -> false;
      case "auto" -> ChatTemplate.exists(dir);
      default -> throw new IllegalArgumentException("chat_template must be auto, true or false, got "
          + mode);
    };
    if (!use) {
      return tok;
    }
    Map<String, Object> extra = new LinkedHashMap<>();
    if (enableThinking != null) {
      extra.put("enable_thinking", enableThinking);
    }
    return of(tok, ChatTemplate.load(dir), extra);
  }

  /** The prompt text the model sees for {@code userText}. */
  public String format(String userText) {
    return template.render(List.of(Map.of("role", "user", "content", userText)), true, extra);
  }

  @Override
  public int[] encodePrompt(String text) {
    return base.encode(format(text));
  }

  @Override
  public int[] encode(String text) {
    return base.encode(text);
  }

  @Override
  public String decode(int[] ids, boolean skipSpecial) {
    return base.decode(ids, skipSpecial);
  }

  @Override
  public int vocabSize() {
    return base.vocabSize();
  }

  @Override
  public int eos() {
    return base.eos();
  }

  @Override
  public boolean isEnd(int id) {
    return base.isEnd(id);
  }

  @Override
  public String tokenText(int id) {
    return base.tokenText(id);
  }

  @Override
  public int pad() {
    return base.pad();
  }

  /**
   * Writes the tokenizer's files and the chat template (as {@code chat_template.jinja}), so a
   * checkpoint trained with chat prompts is used with the same prompts when it is loaded again.
   */
  @Override
  public void save(Path dir) throws IOException {
    base.save(dir);
    org.sdpo.transformer.io.AtomicFiles.write(dir.resolve(ChatTemplate.FILE),
        f -> java.nio.file.Files.writeString(f, template.source()));
  }
}
