package org.sdpo.cli;

import me.tongfei.progressbar.DelegatingProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;

/**
 * Progress bars for long phases. On a terminal the bar redraws in place; when the output goes to
 * a file or a pipe it prints one plain line every 15 seconds instead of a stream of redraws.
 */
final class Progress {
  private Progress() {}

  static ProgressBar bar(String name, long max) {
    ProgressBarBuilder b = new ProgressBarBuilder().setTaskName(name).setInitialMax(max)
        .setStyle(ProgressBarStyle.ASCII);
    if (System.console() != null) {
      return b.setUpdateIntervalMillis(250).continuousUpdate().build();
    }
    return b.setUpdateIntervalMillis(15_000)
        .setConsumer(new DelegatingProgressBarConsumer(System.out::println, 100)).build();
  }

  /** A duration for people: "42.0 s", "3 min 12 s", "2 h 05 min". */
  static String duration(double seconds) {
    long s = Math.round(seconds);
    if (seconds < 60) {
      return String.format(java.util.Locale.ROOT, "%.1f s", seconds);
    }
    if (s < 3600) {
      return (s / 60) + " min " + (s % 60) + " s";
    }
    return String.format(java.util.Locale.ROOT, "%d h %02d min", s / 3600, s % 3600 / 60);
  }
}
