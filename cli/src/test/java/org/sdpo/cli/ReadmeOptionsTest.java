package org.sdpo.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.sdpo.core.TrainConfig;

/** The README's option table documents every option of ./sdpo train. */
class ReadmeOptionsTest {
  @Test
  void everyTrainOptionIsInTheReadme() throws Exception {
    String readme = Files.readString(Path.of("../README.md"));
    for (String key : TrainConfig.OPTIONS.keySet()) {
      assertThat(readme).as("README row for option " + key).contains("| `" + key + "` |");
    }
  }
}
