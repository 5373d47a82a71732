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
import org.sdpo.transformer.chat.Jinja;
import org.sdpo.transformer.chat.JinjaException;

/**
 * Our Jinja engine against Python's jinja2 (tools/make_jinja_fixtures.py): 58 templates, one
 * feature each, rendered in the environment transformers uses for chat templates; a template
 * that raises there must raise here.
 */
class JinjaTest {
  static final ObjectMapper JSON = new ObjectMapper();

  @Test
  void rendersEveryFixtureAsJinja2Does() throws Exception {
    List<String> lines = Files.readAllLines(Path.of("src/test/resources/jinja_fixtures.jsonl"));
    assertThat(lines).hasSizeGreaterThan(50);
    List<String> mismatches = new ArrayList<>();
    for (String line : lines) {
      JsonNode n = JSON.readTree(line);
      String source = n.get("template").asText();
      Map<String, Object> ctx = JSON.convertValue(n.get("context"), new TypeReference<>() {});
      JsonNode expected = n.get("expected");
      String got;
      try {
        got = Jinja.compile(source, true, true).render(ctx);
      } catch (JinjaException | Jinja.RaisedException e) {
        if (!expected.isObject()) {
          mismatches.add(source + "\n  expected " + JSON.writeValueAsString(expected.asText())
              + "\n  raised   " + e.getMessage());
        } else if (e instanceof Jinja.RaisedException && !expected.get("error").asText()
            .endsWith(e.getMessage())) {
          mismatches.add(source + "\n  expected " + expected + "\n  raised   " + e.getMessage());
        }
        continue;
      }
      if (expected.isObject() || !got.equals(expected.asText())) {
        mismatches.add(source + "\n  expected " + (expected.isObject() ? expected.toString()
            : JSON.writeValueAsString(expected.asText())) + "\n  got      "
            + JSON.writeValueAsString(got));
      }
    }
    assertThat(mismatches).isEmpty();
  }

  @Test
  void syntaxErrorsNameTheirLine() {
    assertThatThrownBy(() -> Jinja.compile("a\n\n{% if x %}b", true, true))
        .isInstanceOf(JinjaException.class).hasMessageContaining("endif");
    assertThatThrownBy(() -> Jinja.compile("a\n{{ x + }}", true, true))
        .isInstanceOf(JinjaException.class).hasMessageStartingWith("line 2");
    assertThatThrownBy(() -> Jinja.compile("{% frobnicate %}", true, true))
        .isInstanceOf(JinjaException.class).hasMessageContaining("unknown statement 'frobnicate'");
    assertThatThrownBy(() -> Jinja.compile("{{ 'unclosed }}", true, true))
        .isInstanceOf(JinjaException.class).hasMessageContaining("string not closed");
    assertThatThrownBy(() -> Jinja.compile("{{ x|nosuchfilter }}", true, true).render(Map.of()))
        .isInstanceOf(JinjaException.class).hasMessageContaining("unknown filter 'nosuchfilter'");
  }
}
