package org.sdpo.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * The directory a command writes a run or a checkpoint into. A command refuses one that already
 * holds its kind of output unless told to continue it ({@code --resume}, where there is one) or to
 * write over it ({@code --overwrite}), so that a forgotten flag never costs a trained model; and
 * {@code --resume} refuses a directory with nothing to continue.
 */
final class RunDirectory {
  /** What {@code ./sdpo train} writes: any of these marks a run. */
  static final List<String> TRAIN_RUN = List.of("metrics.jsonl", "checkpoint",
      "trainer_state.safetensors", "summary.json");
  /** What {@code ./sdpo pretrain} writes (its checkpoint is the directory itself). */
  static final List<String> PRETRAIN_RUN = List.of("metrics.jsonl", "config.json",
      "model.safetensors", "trainer_state.safetensors");
  /** A checkpoint directory ({@code ./sdpo init}). */
  static final List<String> CHECKPOINT = List.of("config.json", "model.safetensors",
      "model.safetensors.index.json");

  private RunDirectory() {}

  /**
   * Checks that {@code out} may receive a new run: it does not exist, or is a directory holding
   * none of {@code marks}, or {@code overwrite} is set.
   *
   * @param what what the marks make of it ("a run", "a checkpoint"), for the message
   * @param options the flags that would let it through, for the message
   */
  static void checkNew(Path out, List<String> marks, boolean overwrite, String what,
      String options) {
    if (Files.exists(out) && !Files.isDirectory(out)) {
      throw new IllegalArgumentException(out + " exists and is not a directory");
    }
    if (overwrite || !Files.isDirectory(out)) {
      return;
    }
    List<String> found = marks.stream().filter(m -> Files.exists(out.resolve(m)))
        .map(m -> Files.isDirectory(out.resolve(m)) ? m + "/" : m).toList();
    if (!found.isEmpty()) {
      throw new IllegalArgumentException(out + " already holds " + what + " ("
          + String.join(", ", found) + "): " + options + ", or choose another directory");
    }
  }

  /**
   * Whether the run in {@code out} already has its {@code steps} (read from its state file); if
   * so, says there is nothing to do, with {@code more} ("steps above %d continue it").
   */
  static boolean finished(Path out, String state, int steps, String more) throws IOException {
    int done = org.sdpo.transformer.train.Pretrainer.readStep(out.resolve(state));
    if (done < steps) {
      return false;
    }
    System.out.println("the run in " + out + " already has its " + done + " steps: nothing to do ("
        + String.format(java.util.Locale.ROOT, more, done) + ")");
    return true;
  }

  /** Checks that {@code out} holds every file a resumed run reads. */
  static void checkResumable(Path out, List<String> needed) throws IOException {
    for (String n : needed) {
      if (!Files.exists(out.resolve(n))) {
        throw new java.nio.file.NoSuchFileException("nothing to resume: " + out.resolve(n)
            + " does not exist (start without --resume)");
      }
    }
  }
}
