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
}
