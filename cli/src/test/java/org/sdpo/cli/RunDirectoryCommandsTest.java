package org.sdpo.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Commands that write a run or a checkpoint never write over one they were not told to (a
 * forgotten --resume must not cost a trained model), and a file that is not what it should be is
 * one line naming it (the first bad byte of a file that is not UTF-8, the line and column of broken
 * JSON or YAML), without a parser's class names.
 */
class RunDirectoryCommandsTest {
  @TempDir Path dir;

  private Path initModel(String name, String... extra) {
    Path model = dir.resolve(name);
    GradCheckCommandTest.Result r = GradCheckCommandTest.run(with(new String[] {"init", "--arch",
        "gpt2", "--layers", "1", "--hidden", "16", "--heads", "2", "--positions", "128", "--out",
        model.toString()}, extra));
    assertThat(r.exit()).as(r.err()).isZero();
    return model;
  }

  @Test
  void initRefusesToReplaceACheckpointUnlessToldTo() throws Exception {
    Path model = initModel("m");
    byte[] weights = Files.readAllBytes(model.resolve("model.safetensors"));

    GradCheckCommandTest.Result again = GradCheckCommandTest.run("init", "--arch", "gpt2",
        "--layers", "1", "--hidden", "16", "--heads", "2", "--seed", "2", "--out", model.toString());
    assertThat(again.exit()).isEqualTo(2);
    assertThat(again.err().strip()).isEqualTo("sdpo init: error: " + model + " already holds a "
        + "checkpoint (config.json, model.safetensors): --overwrite replaces it, or choose another "
        + "directory");
    assertThat(Files.readAllBytes(model.resolve("model.safetensors"))).isEqualTo(weights);

    initModel("m", "--seed", "2", "--overwrite");
    assertThat(Files.readAllBytes(model.resolve("model.safetensors"))).isNotEqualTo(weights);
    // a tokenizer of another kind left behind would be read in place of the new one
    Files.writeString(model.resolve("vocab.json"), "{}");
    Files.writeString(model.resolve("merges.txt"), "");
    initModel("m", "--overwrite");
    assertThat(model.resolve("vocab.json")).doesNotExist();
    assertThat(model.resolve("merges.txt")).doesNotExist();
    assertThat(model.resolve("char_tokenizer.json")).exists();

    Path file = Files.writeString(dir.resolve("a-file"), "x");
    GradCheckCommandTest.Result onFile = GradCheckCommandTest.run("init", "--arch", "gpt2",
        "--out", file.toString());
    assertThat(onFile.err().strip()).isEqualTo("sdpo init: error: " + file
        + " exists and is not a directory");
  }

  @Test
  void pretrainRefusesAnEarlierRunAndResumesOnlyARun() throws Exception {
    Path data = Files.writeString(dir.resolve("c.txt"), "hello there, general kenobi. ".repeat(30));
    Path run = dir.resolve("run");
    String[] args = {"pretrain", "--data", data.toString(), "--out", run.toString(), "--steps", "2",
        "--n-layer", "1", "--n-embd", "16", "--n-head", "2", "--block-size", "16", "--batch-size",
        "4", "--warmup", "1"};
    GradCheckCommandTest.Result nothing = GradCheckCommandTest.run(with(args, "--resume"));
    assertThat(nothing.err().strip()).isEqualTo("sdpo pretrain: error: nothing to resume: "
        + run.resolve("trainer_state.safetensors") + " does not exist (start without --resume)");

    assertThat(GradCheckCommandTest.run(args).exit()).isZero();
    byte[] weights = Files.readAllBytes(run.resolve("model.safetensors"));
    GradCheckCommandTest.Result again = GradCheckCommandTest.run(args);
    assertThat(again.exit()).isEqualTo(2);
    assertThat(again.err()).contains(run + " already holds a run or a checkpoint (metrics.jsonl, "
        + "config.json, model.safetensors, trainer_state.safetensors): --resume continues a run, "
        + "--overwrite starts again");
    assertThat(again.out()).as("refused before anything is printed or written").isEmpty();
    assertThat(Files.readAllBytes(run.resolve("model.safetensors"))).isEqualTo(weights);

    assertThat(GradCheckCommandTest.run(with(args, "--overwrite")).exit()).isZero();
    GradCheckCommandTest.Result otherLr = GradCheckCommandTest.run(with(args, "--resume", "--lr",
        "0.01"));
    assertThat(otherLr.err().strip()).isEqualTo("sdpo pretrain: error: " + run + ": --resume "
        + "continues a run with the settings it was started with, and these differ from its "
        + "train_config.json: lr 0.001 -> 0.01 (put them back, or start again with --overwrite)");
    GradCheckCommandTest.Result finished = GradCheckCommandTest.run(with(args, "--resume"));
    assertThat(finished.exit()).as(finished.err()).isZero(); // once a NullPointerException
    assertThat(finished.out().strip()).isEqualTo("the run in " + run + " already has its 2 steps: "
        + "nothing to do (--steps above 2 continues it)");
    // any model directory's tokenizer (once only GPT-2's vocab.json + merges.txt)
    Path other = initModel("other");
    GradCheckCommandTest.Result withTok = GradCheckCommandTest.run(with(args, "--overwrite",
        "--tokenizer", other.toString()));
    assertThat(withTok.exit()).as(withTok.err()).isZero();
    assertThat(run.resolve("char_tokenizer.json")).hasSameTextualContentAs(
        other.resolve("char_tokenizer.json"));
    assertThat(GradCheckCommandTest.run(with(args, "--overwrite", "--tokenizer",
        dir.resolve("none").toString())).err().strip()).isEqualTo("sdpo pretrain: error: "
        + dir.resolve("none") + " is not a directory (a tokenizer is read from a model's directory)");
    assertThat(GradCheckCommandTest.run(with(args, "--resume", "--overwrite")).err())
        .contains("--resume and --overwrite exclude each other");
  }

  @Test
  void trainRefusesAnEarlierRunAndOverwriteLeavesNoStaleStep() throws Exception {
    Path model = initModel("m");
    Path run = dir.resolve("run");
    Path cfg = trainConfig(model, run, 2);
    GradCheckCommandTest.Result first = GradCheckCommandTest.run("train", "--config",
        cfg.toString());
    assertThat(first.exit()).as(first.err()).isZero();
    assertThat(run.resolve("rollouts/step_00002.json")).exists();

    GradCheckCommandTest.Result again = GradCheckCommandTest.run("train", "--config",
        cfg.toString());
    assertThat(again.exit()).isEqualTo(2);
    assertThat(again.err().strip()).isEqualTo("sdpo train: error: " + run + " already holds a run "
        + "(metrics.jsonl, checkpoint/, trainer_state.safetensors, summary.json): --resume "
        + "continues it, --overwrite starts it again, or choose another directory");
    assertThat(again.out()).isEmpty();

    String summary = Files.readString(run.resolve("summary.json"));
    GradCheckCommandTest.Result finished = GradCheckCommandTest.run("train", "--config",
        cfg.toString(), "--resume");
    assertThat(finished.out().strip()).isEqualTo("the run in " + run + " already has its 2 steps: "
        + "nothing to do (steps above 2 continue it)");
    assertThat(run.resolve("summary.json")).hasContent(summary);

    // a resumed run keeps its settings: more steps may follow, another learning rate may not
    Files.writeString(cfg, Files.readString(cfg) + "lr: 3.0e-4\n");
    GradCheckCommandTest.Result otherLr = GradCheckCommandTest.run("train", "--config",
        cfg.toString(), "--resume");
    assertThat(otherLr.err().strip()).isEqualTo("sdpo train: error: " + run + ": --resume "
        + "continues a run with the settings it was started with, and these differ from its "
        + "config.json: lr 1.0E-4 -> 3.0E-4 (put them back, or start again with --overwrite)");
    assertThat(otherLr.out()).isEmpty();
    Files.writeString(cfg, Files.readString(cfg).replace("lr: 3.0e-4\n", "")
        .replace("steps: 2", "steps: 3"));
    GradCheckCommandTest.Result longer = GradCheckCommandTest.run("train", "--config",
        cfg.toString(), "--resume");
    assertThat(longer.exit()).as(longer.err()).isZero();
    assertThat(Files.readAllLines(run.resolve("metrics.jsonl"))).hasSize(3);
    Files.writeString(cfg, Files.readString(cfg).replace("steps: 3", "steps: 2"));

    // started again with fewer steps: no step file of the longer run is left for the viewer
    Files.writeString(cfg, Files.readString(cfg).replace("steps: 2", "steps: 1"));
    GradCheckCommandTest.Result over = GradCheckCommandTest.run("train", "--config",
        cfg.toString(), "--overwrite");
    assertThat(over.exit()).as(over.err()).isZero();
    assertThat(run.resolve("rollouts/step_00001.json")).exists();
    assertThat(run.resolve("rollouts/step_00002.json")).doesNotExist();
    assertThat(Files.readAllLines(run.resolve("metrics.jsonl"))).hasSize(1);
  }

  @Test
  void trainRefusesToReplaceTheCheckpointItStartsFrom() throws Exception {
    Path model = initModel("m");
    Path run = dir.resolve("run");
    Path cfg = trainConfig(model, run, 1);
    assertThat(GradCheckCommandTest.run("train", "--config", cfg.toString()).exit()).isZero();
    Path own = run.resolve("checkpoint");
    Files.writeString(cfg, Files.readString(cfg).replace("model: " + model, "model: " + own));
    GradCheckCommandTest.Result r = GradCheckCommandTest.run("train", "--config", cfg.toString(),
        "--overwrite");
    assertThat(r.err().strip()).endsWith("error: model " + own + " is the checkpoint of the run in "
        + run + ", which a new run there replaces: train into another out (or --resume it)");
    assertThat(own.resolve("model.safetensors")).exists();
  }

  @Test
  void trainChecksItsBaseModelBeforeWritingAnything() throws Exception {
    Path run = dir.resolve("run");
    Path cfg = Files.writeString(dir.resolve("t.yaml"), "model: " + dir.resolve("none")
        + "\nout: " + run + "\nenv: addition\n");
    GradCheckCommandTest.Result r = GradCheckCommandTest.run("train", "--config", cfg.toString());
    assertThat(r.exit()).isEqualTo(2);
    assertThat(r.err().strip()).isEqualTo("sdpo train: error: " + dir.resolve("none")
        + " is not a checkpoint directory");
    assertThat(run).doesNotExist();
  }

  @Test
  void aFileThatIsNotUtf8IsNamedWithItsFirstBadByte() throws Exception {
    Path data = dir.resolve("latin1.txt");
    Files.write(data, new byte[] {'c', 'a', 'f', (byte) 0xe9, ' ', 'o', 'k'});
    GradCheckCommandTest.Result r = GradCheckCommandTest.run("pretrain", "--data", data.toString(),
        "--out", dir.resolve("run").toString(), "--steps", "1");
    assertThat(r.err().strip()).isEqualTo("sdpo pretrain: error: " + data
        + ": not UTF-8 text (byte 0xe9 at offset 3)");

    Path yaml = dir.resolve("c.yaml");
    Files.write(yaml, new byte[] {'s', 't', 'e', 'p', 's', ':', ' ', (byte) 0xff, '\n'});
    GradCheckCommandTest.Result t = GradCheckCommandTest.run("train", "--config", yaml.toString());
    assertThat(t.err().strip()).isEqualTo("sdpo train: error: " + yaml
        + ": not valid YAML/JSON: not UTF-8 text");
  }

  @Test
  void brokenJsonIsOneLineWithItsLineAndColumn() throws Exception {
    Path model = initModel("m");
    Path tok = model.resolve("char_tokenizer.json");
    Files.writeString(tok, "{\"type\": \"char\",\n \"alphabet\": [1, 2\n");
    GradCheckCommandTest.Result r = GradCheckCommandTest.run("sample", "--model", model.toString(),
        "--prompt", "hi");
    assertThat(r.exit()).isEqualTo(2);
    assertThat(r.err().strip()).startsWith("sdpo sample: error: " + tok + ": not valid JSON: ")
        .containsPattern("\\(line [23], column [0-9]+\\)$")
        .doesNotContain("Source", "REDACTED", "Exception", "\n");

    GradCheckCommandTest.Result missing = GradCheckCommandTest.run("train", "--config",
        dir.resolve("none.yaml").toString());
    assertThat(missing.err().strip()).isEqualTo("sdpo train: error: no such file: "
        + dir.resolve("none.yaml"));
  }

  /** A train config of a few tiny steps of the addition environment. */
  private Path trainConfig(Path model, Path run, int steps) throws java.io.IOException {
    return Files.writeString(dir.resolve("t.yaml"), "model: " + model + "\nout: " + run
        + "\nenv: addition\nsteps: " + steps + "\nquestions_per_step: 1\ngroup_size: 2\n"
        + "max_new_tokens: 4\nval_every: 0\nsave_every: 2\n");
  }

  private static String[] with(String[] args, String... more) {
    String[] all = java.util.Arrays.copyOf(args, args.length + more.length);
    System.arraycopy(more, 0, all, args.length, more.length);
    return all;
  }
}
