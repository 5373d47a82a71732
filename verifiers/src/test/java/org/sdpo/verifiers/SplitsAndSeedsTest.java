package org.sdpo.verifiers;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** Generators are reproducible by seed, and train and test never share a task. */
class SplitsAndSeedsTest {

  @Test
  void sameSeedSameTasksAndSplitsAreDisjoint() {
    for (String name : Verifiers.builtIn()) {
      Environment env = Verifiers.byName(name);
      List<Task> a = env.tasks(Split.TRAIN, 50, 7, 0);
      assertThat(env.tasks(Split.TRAIN, 50, 7, 0)).as(name).isEqualTo(a);
      assertThat(env.tasks(Split.TRAIN, 50, 8, 0)).as(name).isNotEqualTo(a);
      Set<String> train = new HashSet<>();
      for (long seed = 0; seed < 5; seed++) {
        env.tasks(Split.TRAIN, 100, seed, 0).forEach(t -> train.add(key(t)));
      }
      Set<String> test = new HashSet<>();
      for (long seed = 0; seed < 5; seed++) {
        env.tasks(Split.TEST, 100, seed, 0).forEach(t -> test.add(key(t)));
      }
      assertThat(test).as(name + " test tasks").isNotEmpty();
      Set<String> both = new HashSet<>(train);
      both.retainAll(test);
      assertThat(both).as(name + ": tasks in both splits").isEmpty();
    }
  }

  /** A task's identity: the program for code, the question otherwise. */
  private static String key(Task t) {
    return t.env().equals("code") ? t.reference() : t.prompt();
  }

  @Test
  void tasksRoundTripThroughJsonl() throws Exception {
    java.nio.file.Path f = java.nio.file.Files.createTempDirectory("tasks").resolve("t.jsonl");
    for (String name : Verifiers.builtIn()) {
      Environment env = Verifiers.byName(name);
      List<Task> tasks = env.tasks(Split.TEST, 10, 3, 0);
      Verifiers.writeTasks(f, tasks);
      List<Task> back = Verifiers.readTasks(f);
      assertThat(back).hasSize(10);
      for (int i = 0; i < tasks.size(); i++) {
        assertThat(back.get(i).prompt()).isEqualTo(tasks.get(i).prompt());
        assertThat(env.verify(back.get(i), tasks.get(i).reference()).success()).isTrue();
      }
    }
  }

  @Test
  void badTaskFilesNameTheLine() throws Exception {
    java.nio.file.Path f = java.nio.file.Files.createTempFile("bad", ".jsonl");
    java.nio.file.Files.writeString(f, "{\"prompt\": \"a\"}\n{\"prompt\": 3}\n");
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> Verifiers.readTasks(f))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining(f + ", line 2")
        .hasMessageContaining("prompt");
  }

  @Test
  void aTaskFileIsWrittenReadableAndLeavesNoTemporary() throws Exception {
    java.nio.file.Path dir = java.nio.file.Files.createTempDirectory("tasks");
    java.nio.file.Path f = dir.resolve("t.jsonl");
    Verifiers.writeTasks(f, Verifiers.byName("addition").tasks(Split.TEST, 2, 3, 0));
    assertThat(java.nio.file.attribute.PosixFilePermissions.toString(
        java.nio.file.Files.getPosixFilePermissions(f))).isEqualTo("rw-r--r--");
    try (var s = java.nio.file.Files.list(dir)) {
      assertThat(s.map(p -> p.getFileName().toString())).containsExactly("t.jsonl");
    }
  }

  @Test
  void aTaskFileThatIsNotUtf8NamesItsFirstBadByte() throws Exception {
    java.nio.file.Path f = java.nio.file.Files.createTempFile("latin1", ".jsonl");
    java.nio.file.Files.write(f, new byte[] {'{', '"', 'p', (byte) 0xe9});
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> Verifiers.readTasks(f))
        .hasMessage(f + ": not UTF-8 text (byte 0xe9 at offset 3)");
  }

  @Test
  void aPlaceThatCannotTakeATaskFileIsNamed() throws Exception {
    java.nio.file.Path dir = java.nio.file.Files.createTempDirectory("tasks");
    List<Task> tasks = Verifiers.byName("addition").tasks(Split.TEST, 1, 3, 0);
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> Verifiers.writeTasks(dir, tasks))
        .hasMessage("cannot write " + dir + ": it is a directory");
    java.nio.file.Path file = java.nio.file.Files.writeString(dir.resolve("f"), "x");
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> Verifiers.writeTasks(
        file.resolve("t.jsonl"), tasks)).hasMessage("cannot write " + file.resolve("t.jsonl")
        + ": " + file + " is not a directory");
  }
}
