package org.sdpo.transformer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sdpo.transformer.tokenizer.ChatTemplate;

/**
 * Chat templates rendered by our Jinja engine against Python's jinja2 rendering them as Hugging
 * Face does (tools/make_chat_template_fixtures.py): Qwen3's and Llama 3's real templates and a
 * Llama 3 style one, system/user/assistant/tool turns, with and without a generation prompt, with
 * enable_thinking false, and a raise_exception.
 */
class ChatTemplateTest {
  static final Path QWEN3 = Path.of("src/test/resources/qwen3");
  static final ObjectMapper JSON = new ObjectMapper();
  @TempDir Path tmp;

  @Test
  void rendersExactlyWhatJinja2Renders() throws Exception {
    ChatTemplate qwen = ChatTemplate.load(QWEN3);
    ChatTemplate llama3 = ChatTemplate.load(Path.of("src/test/resources/llama3"));
    String llama = Files.readString(QWEN3.resolve("llama3_style_template.jinja"));
    String gemma = Files.readString(QWEN3.resolve("gemma3_style_template.jinja"));
    List<String> lines = Files.readAllLines(QWEN3.resolve("chat_fixtures.jsonl"));
    assertThat(lines).hasSizeGreaterThan(50);
    List<String> mismatches = new ArrayList<>();
    int errors = 0;
    for (String line : lines) {
      JsonNode n = JSON.readTree(line);
      List<Map<String, Object>> messages = JSON.convertValue(n.get("messages"), new TypeReference<>() {});
      Map<String, Object> extra = JSON.convertValue(n.get("extra"), new TypeReference<>() {});
      Map<String, Object> special = JSON.convertValue(n.get("special"), new TypeReference<>() {});
      ChatTemplate t = switch (n.get("template").asText()) {
        case "qwen3" -> qwen;
        case "llama3" -> llama3;
        case "llama3-style" -> ChatTemplate.of(llama, special);
        case "gemma3-style" -> ChatTemplate.of(gemma, special);
        default -> throw new AssertionError(line);
      };
      boolean gen = n.get("add_generation_prompt").asBoolean();
      JsonNode expected = n.get("expected");
      if (expected.isObject()) {
        errors++;
        assertThatThrownBy(() -> t.render(messages, gen, extra))
            .isInstanceOf(IllegalArgumentException.class)
            .hasMessageContaining(expected.get("error").asText());
        continue;
      }
      String got = t.render(messages, gen, extra);
      if (!got.equals(expected.asText())) {
        mismatches.add(line + "\n  got: " + JSON.writeValueAsString(got));
      }
    }
    assertThat(errors).isGreaterThan(0);
    assertThat(mismatches).isEmpty();
    assertThat(lines).anyMatch(l -> l.contains("\"template\": \"gemma3-style\""));
  }

  /** chat_template: auto uses a template that is there and refuses one that does not compile. */
  @Test
  void autoModeUsesATemplateThatIsThereAndRefusesABrokenOne() throws Exception {
    org.sdpo.transformer.tokenizer.CharTokenizer.ascii().save(tmp);
    assertThat(org.sdpo.transformer.tokenizer.ChatPrompts.forModel(tmp, "auto", false))
        .isNotInstanceOf(org.sdpo.transformer.tokenizer.ChatPrompts.class);
    Files.writeString(tmp.resolve(ChatTemplate.FILE), "{{ messages[0].content }}!");
    assertThat(org.sdpo.transformer.tokenizer.ChatPrompts.forModel(tmp, "auto", false)
        .encodePrompt("ab")).containsExactly(org.sdpo.transformer.tokenizer.CharTokenizer.ascii()
        .encode("ab!"));
    Files.writeString(tmp.resolve(ChatTemplate.FILE), "{% if %}");
    assertThatThrownBy(() -> org.sdpo.transformer.tokenizer.ChatPrompts.forModel(tmp, "auto", false))
        .hasMessageContaining("chat_template.jinja");
  }

  @Test
  void aDirectoryWithoutATemplateIsAOneLineError() throws Exception {
    Files.writeString(tmp.resolve("tokenizer_config.json"), "{\"eos_token\": \"</s>\"}");
    assertThatThrownBy(() -> ChatTemplate.load(tmp)).hasMessageContaining("no chat template")
        .hasMessageContaining("tokenizer_config.json");
    assertThatThrownBy(() -> ChatTemplate.of("{% for m in messages %}\n{{ m.content }", Map.of()))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("chat template: line 2")
        .hasMessageContaining("not closed");
    assertThatThrownBy(() -> ChatTemplate.of("{% for m in messages %}{{ m }}", Map.of()))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("endfor");
    ChatTemplate bad = ChatTemplate.of("{{ messages[0].content.nosuch() }}", Map.of());
    assertThatThrownBy(() -> bad.render(List.of(Map.of("role", "user", "content", "x")), false,
        Map.of())).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("line 1")
        .satisfies(e -> assertThat(e.getMessage()).doesNotContain("\n"));
  }
}
