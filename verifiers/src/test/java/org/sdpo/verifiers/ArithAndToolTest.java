package org.sdpo.verifiers;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.sdpo.verifiers.arith.ArithEnvironment;
import org.sdpo.verifiers.tool.ToolEnvironment;

class ArithAndToolTest {
  private static Task arith(long answer) {
    return new Task("a", "arith", "What is 347 + 58?", String.valueOf(answer), 3, Split.TRAIN,
        Map.of("answer", answer));
  }

  @Test
  void arithAcceptsReasonableAnswerFormats() {
    ArithEnvironment env = new ArithEnvironment(FeedbackLevel.NONE);
    Task t = arith(1405);
    for (String ok : List.of("1405", " 1405\n", "The answer is 1405.", "#### 1,405",
        "347 + 1058 = 1405", "\\boxed{1405}", "1405.0", "x = 1405", "2810/2")) {
      assertThat(env.verify(t, ok).success()).as(ok).isTrue();
    }
    for (String bad : List.of("1404", "14050", "", "no idea", "1405 or 1406")) {
      assertThat(env.verify(t, bad).success()).as(bad).isFalse();
    }
    assertThat(env.verify(arith(-7), "x = -7").success()).isTrue();
    assertThat(env.verify(arith(-7), "−7").success()).isTrue();
  }

  @Test
  void arithFeedbackLevels() {
    Task t = arith(405);
    assertThat(new ArithEnvironment(FeedbackLevel.NONE).verify(t, "407").feedback()).isEmpty();
    assertThat(new ArithEnvironment(FeedbackLevel.SUMMARY).verify(t, "407").feedback())
        .isEqualTo("Wrong Answer");
    assertThat(new ArithEnvironment(FeedbackLevel.FULL).verify(t, "407").feedback())
        .isEqualTo("Wrong Answer\nyour answer 407 is wrong; the correct answer is 405");
    assertThat(new ArithEnvironment(FeedbackLevel.FULL).verify(t, "?").kind()).isEqualTo("no_answer");
  }

  @Test
  void arithReferencesPassAndEquationsHaveIntegerSolutions() {
    ArithEnvironment env = new ArithEnvironment(FeedbackLevel.FULL);
    for (int d = 1; d <= env.maxDifficulty(); d++) {
      for (Task t : env.tasks(Split.TEST, 20, 9, d)) {
        assertThat(env.verify(t, t.reference()).success()).as(t.prompt()).isTrue();
      }
    }
    assertThat(env.tasks(Split.TRAIN, 5, 1, 4).get(0).prompt()).startsWith("Solve for x: ");
  }

  private static Task weather() {
    Map<String, Object> call = Map.of("name", "get_weather", "arguments",
        new java.util.LinkedHashMap<>(Map.of("city", "Paris", "days", 3L)));
    return new Task("w", "tool", "Weather in Paris for 3 days.", "", 2, Split.TRAIN,
        Map.of("expected", call));
  }

  @Test
  void toolCallsAreCheckedAgainstTheSchemaAndTheRequest() {
    ToolEnvironment env = new ToolEnvironment(FeedbackLevel.FULL);
    Task t = weather();
    assertThat(env.verify(t, "{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"days\": 3}}")
        .success()).isTrue();
    assertThat(env.verify(t, "{\"name\": \"get_weather\", \"arguments\": {\"days\": 3}}").feedback())
        .isEqualTo("Invalid Arguments\nmissing required argument 'city'");
    assertThat(env.verify(t, "{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"days\": 9}}")
        .feedback()).isEqualTo("Invalid Arguments\n'days' must be an integer in 1..7, got 9");
    assertThat(env.verify(t, "{\"name\": \"get_wether\", \"arguments\": {}}").feedback())
        .isEqualTo("Unknown Function\nunknown function 'get_wether'; did you mean 'get_weather'?");
    assertThat(env.verify(t, "{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\" \"days\": 3}}")
        .feedback()).isEqualTo("JSON Syntax Error\nline 1, column 55: expected ',' or '}' in object,"
            + " found '\"'");
    assertThat(env.verify(t, "{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\", \"days\": 3}}")
        .feedback()).isEqualTo("Wrong Arguments\n'city' is \"Oslo\", but the request asks for \"Paris\"");
    assertThat(env.verify(t, "{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"days\": 3,"
        + " \"units\": \"kelvin\"}}").feedback())
        .contains("'units' must be one of celsius, fahrenheit, got \"kelvin\"");
    assertThat(env.verify(t, "{\"name\": \"set_alarm\", \"arguments\": {\"time\": \"07:30\"}}").feedback())
        .isEqualTo("Wrong Function\nthe request asks for get_weather, not set_alarm");
    assertThat(env.verify(t, "call get_weather(Paris)").kind()).isEqualTo("format_error");
    assertThat(new ToolEnvironment(FeedbackLevel.SUMMARY)
        .verify(t, "{\"name\": \"get_weather\", \"arguments\": {}}").feedback())
        .isEqualTo("Invalid Arguments");
  }

  @Test
  void toolReferencesPassAndTeachingAttemptsFail() {
    ToolEnvironment env = new ToolEnvironment(FeedbackLevel.FULL);
    for (Task t : env.tasks(Split.TRAIN, 40, 5, 0)) {
      assertThat(env.verify(t, t.reference()).success()).as(t.reference()).isTrue();
    }
    for (TeachingExample e : env.teaching(Split.TRAIN, 40, 5)) {
      assertThat(e.verdict().success()).isFalse();
      assertThat(e.verdict().feedback()).isNotBlank();
    }
    assertThat(env.teaching(Split.TRAIN, 40, 5)).hasSizeGreaterThan(30);
  }

  @Test
  void numbersBeyondDoubleRangeGetAClearVerdict() {
    ToolEnvironment env = new ToolEnvironment(FeedbackLevel.FULL);
    Task t = weather();
    for (String n : List.of("1e99999999999999999999", "1E-99999999999999999999",
        "2.5e2147483648", "1e1001", "12345678901234567890123456789e-5")) {
      Verdict v = env.verify(t, "{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", "
          + "\"days\": " + n + "}}");
      assertThat(v.success()).as(n).isFalse();
      assertThat(v.kind()).as(n).isIn("json_error", "invalid_arguments");
      assertThat(v.feedback()).as(n).isNotBlank().doesNotContain("Exception");
    }
    assertThat(env.verify(t, "{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", "
        + "\"days\": 1e99999999999999999999}}").feedback())
        .isEqualTo("JSON Syntax Error\nline 1, column 64: number exponent out of range in "
            + "1e99999999999999999999");
  }
}
