package org.sdpo.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Charts are drawn where Java can draw text, and skipped with one line where it cannot. */
class ChartsTest {

  @Test
  void aChartIsAPngFile(@TempDir Path dir) throws Exception {
    Path f = dir.resolve("c.png");
    Charts.lines(f, "t", "x", "y", List.of(new Charts.Series("s", new double[] {1, 2},
        new double[] {0.5, 0.25}, null)), false);
    byte[] b = Files.readAllBytes(f);
    assertThat(b).startsWith((byte) 0x89, (byte) 'P', (byte) 'N', (byte) 'G');
  }

  /**
   * The GPU bundle's Java on a machine without libharfbuzz failed here with a stack trace and
   * ended the demo after its pre-training; now the run goes on, told once, with no file and no
   * temporary left behind.
   */
  @Test
  void whereJavaCannotRenderTextTheRunGoesOnToldOnce(@TempDir Path dir) throws Exception {
    PrintStream err = System.err;
    ByteArrayOutputStream captured = new ByteArrayOutputStream();
    System.setErr(new PrintStream(captured, true));
    try {
      for (int i = 0; i < 2; i++) {
        Charts.save(dir.resolve("c" + i + ".png"), tmp -> {
          throw new UnsatisfiedLinkError(".../libfontmanager.so: libharfbuzz.so.0: cannot open "
              + "shared object file: No such file or directory");
        });
      }
      Charts.save(dir.resolve("d.png"), tmp -> {
        throw new NoClassDefFoundError("Could not initialize class sun.font.SunFontManager");
      });
    } finally {
      System.setErr(err);
    }
    String text = captured.toString();
    assertThat(text.lines().count()).isEqualTo(1);
    assertThat(text).contains("charts: not drawn", "c0.png", "libharfbuzz.so.0", ".jsonl");
    try (var files = Files.list(dir)) {
      assertThat(files).isEmpty();
    }
    assertThat(Charts.shown(dir.resolve("c0.png"))).endsWith("c0.png (not drawn)");
  }
}
