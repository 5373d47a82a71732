package org.sdpo.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sdpo.tensor.DType;
import org.sdpo.tensor.Rng;
import org.sdpo.transformer.CausalLm;
import org.sdpo.transformer.Gpt;
import org.sdpo.transformer.GptConfig;
import org.sdpo.transformer.io.Checkpoint;
import org.sdpo.transformer.tokenizer.CharTokenizer;

/** The viewer page's structure, checked without a browser. */
class ExplainTest {
  @TempDir Path dir;

  @Test
  void onePageWithOneColouredSpanPerResponseTokenAndNothingExternal() throws Exception {
    CharTokenizer tok = CharTokenizer.ascii();
    Path base = dir.resolve("base");
    Checkpoint.save(Gpt.init(GptConfig.of(tok.vocabSize(), 256, 16, 1, 2), DType.FLOAT32,
        new Rng(1)), tok, base, null);
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("model", base.toString());
    m.put("out", dir.resolve("run").toString());
    m.put("env", "code");
    m.put("difficulty", 1);
    m.put("steps", 1);
    m.put("questions_per_step", 2);
    m.put("group_size", 2);
    m.put("max_new_tokens", 6);
    m.put("val_every", 0);
    m.put("max_reprompt_len", 240);
    m.put("viewer_samples", 3);
    Trainer.run(TrainConfig.of(m), false, null);
    Path stepFile = Explain.stepFile(dir.resolve("run"), null);
    JsonNode data = new ObjectMapper().readTree(stepFile.toFile());
    assertThat(data.path("rollouts")).hasSize(3);
    int expectedTokens = 0;
    for (JsonNode ro : data.path("rollouts")) {
      expectedTokens += ro.path("tokens").size();
      assertThat(ro.path("teacher_context").asText()).contains("Correctly solve the original question.");
    }
    Path html = dir.resolve("page.html");
    int shown = Explain.write(stepFile, html);
    String page = Files.readString(html);
    Matcher spans = Pattern.compile("<span class=\"tok\" data-advantage=\"(-?[0-9.]+)\" "
        + "style=\"background:rgba\\(").matcher(page);
    int n = 0;
    while (spans.find()) {
      n++;
    }
    assertThat(n).isEqualTo(expectedTokens).isEqualTo(shown).isPositive();
    assertThat(page).startsWith("<!DOCTYPE html>").contains("</html>")
        .contains("class=\"card rollout\"", "Question", "Teacher context", "Feedback",
            "group rewards", "title=\"advantage ");
    assertThat(page).doesNotContain("<script", "http://", "https://", "<link ");
    assertThatThrownBy(() -> Explain.stepFile(dir.resolve("run"), 99))
        .hasMessageContaining("step_00099.json");
  }

  @Test
  void escapesHtml() {
    assertThat(Explain.esc("<a href=\"x\">&</a>")).isEqualTo("&lt;a href=&quot;x&quot;&gt;&amp;&lt;/a&gt;");
  }
}
