package org.sdpo.transformer.io;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The errors of files a user hands us: the file, what is wrong, where, in one line. */
class TextFilesTest {
  @TempDir Path dir;

  @Test
  void utf8TextReadsAsItIs() throws Exception {
    Path f = Files.writeString(dir.resolve("a.txt"), "caf\u00e9 \u2603 \ud83d\ude00\r\nline 2\n",
        StandardCharsets.UTF_8);
    assertThat(TextFiles.readString(f)).isEqualTo("caf\u00e9 \u2603 \ud83d\ude00\r\nline 2\n");
    assertThat(TextFiles.readLines(f)).containsExactly("caf\u00e9 \u2603 \ud83d\ude00", "line 2")
        .isEqualTo(Files.readAllLines(f));
  }

  @Test
  void theFirstByteThatIsNotUtf8IsNamed() throws Exception {
    // Latin-1, a lone continuation byte, a sequence cut short by the end of the file
    byte[][] cases = {{'a', 'b', (byte) 0xe9, 'c'}, {(byte) 0x80}, {'x', (byte) 0xe2, (byte) 0x82}};
    String[] expected = {"byte 0xe9 at offset 2", "byte 0x80 at offset 0", "byte 0xe2 at offset 1"};
    for (int i = 0; i < cases.length; i++) {
      Path f = Files.write(dir.resolve("bad" + i + ".txt"), cases[i]);
      assertThatThrownBy(() -> TextFiles.readString(f)).as(expected[i])
          .hasMessage(f + ": not UTF-8 text (" + expected[i] + ")");
    }
  }

  @Test
  void brokenJsonAndYamlAreOneLineWithoutTheParsersTrailer() throws Exception {
    Path json = Files.writeString(dir.resolve("a.json"), "{\"a\": [1,\n 2\n");
    assertThatThrownBy(() -> TextFiles.readTree(new ObjectMapper(), json, "JSON"))
        .hasMessageStartingWith(json + ": not valid JSON: ")
        .hasMessageNotContaining("Source").hasMessageNotContaining("REDACTED")
        .hasMessageNotContaining("\n").hasMessageMatching(".*\\(line [0-9]+, column [0-9]+\\)");
    Path yaml = Files.writeString(dir.resolve("a.yaml"), "a: [1, 2\nb: : :\n");
    assertThatThrownBy(() -> TextFiles.readTree(new ObjectMapper(new YAMLFactory()), yaml, "YAML"))
        .hasMessageStartingWith(yaml + ": not valid YAML: ").hasMessageNotContaining("\n")
        .hasMessageNotContaining("Exception");
    Path latin = Files.write(dir.resolve("b.yaml"), new byte[] {'a', ':', ' ', (byte) 0xe9});
    assertThatThrownBy(() -> TextFiles.readTree(new ObjectMapper(new YAMLFactory()), latin,
        "YAML")).hasMessage(latin + ": not valid YAML: not UTF-8 text");
    assertThatThrownBy(() -> TextFiles.readTree(new ObjectMapper(), dir.resolve("none.json"),
        "JSON")).isInstanceOf(NoSuchFileException.class);
    assertThatThrownBy(() -> TextFiles.readTree(new ObjectMapper(), dir, "JSON"))
        .hasMessage(dir + ": cannot be read as a file");
    assertThat(TextFiles.readTree(new ObjectMapper(), Files.writeString(dir.resolve("ok.json"),
        "{\"a\": 1}"), "JSON").path("a").asInt()).isEqualTo(1);
  }

  @Test
  void aJsonlFileSkipsOnlyALastLineCutShort() throws Exception {
    ObjectMapper m = new ObjectMapper();
    Path torn = Files.writeString(dir.resolve("torn.jsonl"), "{\"step\": 1}\n\n{\"step\": 2}\n{\"st");
    assertThat(TextFiles.readJsonLines(m, torn)).extracting(n -> n.path("step").asInt())
        .containsExactly(1, 2);
    Path broken = Files.writeString(dir.resolve("broken.jsonl"), "{\"step\": 1}\n{\"st\n");
    assertThatThrownBy(() -> TextFiles.readJsonLines(m, broken))
        .hasMessageStartingWith(broken + ", line 2: not valid JSON: ");
    Path middle = Files.writeString(dir.resolve("middle.jsonl"), "{\"step\": 1\n{\"step\": 2}");
    assertThatThrownBy(() -> TextFiles.readJsonLines(m, middle))
        .hasMessageStartingWith(middle + ", line 1: not valid JSON: ");
  }

  /** A resumed run keeps its metrics lines byte for byte, and drops one cut short by the crash. */
  @Test
  void keepUpToDropsLaterStepsAndATornLine() throws Exception {
    Path f = Files.writeString(dir.resolve("metrics.jsonl"), "{\"step\":1,\"lr\":1.0E-4}\n"
        + "{\"step\":2,\"loss\":0.5}\n{\"step\":3,\"loss\":0.25}\n{\"step\":4,\"lo");
    org.sdpo.transformer.train.MetricsLog.keepUpTo(f, 2);
    assertThat(Files.readString(f)).isEqualTo("{\"step\":1,\"lr\":1.0E-4}\n"
        + "{\"step\":2,\"loss\":0.5}\n");
  }
}
