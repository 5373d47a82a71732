package org.sdpo.core;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sdpo.tensor.DType;
import org.sdpo.transformer.CausalLm;
import org.sdpo.transformer.io.Checkpoint;
import org.sdpo.transformer.tokenizer.CharTokenizer;
import org.sdpo.transformer.train.Pretrainer;
import org.sdpo.verifiers.Environment;
import org.sdpo.verifiers.FeedbackLevel;
import org.sdpo.verifiers.Split;
import org.sdpo.verifiers.Task;
import org.sdpo.verifiers.TeachingExample;
import org.sdpo.verifiers.Verdict;

/**
 * The gap measurement on two tiny models trained on a task whose answer cannot be computed from
 * the question (a secret two-digit code per key): one trained with the true code as the hint
 * (it copies: a large gap, a large negative advantage on exactly the wrong digits), one with a
 * random hint (it learns to ignore its context: no gap).
 */
class SelfTeacherGapTest {
  @TempDir Path dir;
  final CharTokenizer tok = CharTokenizer.ascii();
  final Reprompt.Templates compact = Reprompt.Templates.compact();

  /** "k1234=" is answered with a two-digit code no model can compute; full feedback tells it. */
  static final class SecretEnvironment implements Environment {
    private final FeedbackLevel level;

    SecretEnvironment(FeedbackLevel level) {
      this.level = level;
    }

    static String code(int key) {
      return String.format("%02d", (key * 7919 + 13) % 97);
    }

    @Override
    public String name() {
      return "secret";
    }

    @Override
    public FeedbackLevel feedback() {
      return level;
    }

    @Override
    public List<FeedbackLevel> levels() {
      return List.of(FeedbackLevel.NONE, FeedbackLevel.FULL);
    }

    @Override
    public Environment withFeedback(FeedbackLevel l) {
      return new SecretEnvironment(l);
    }

    @Override
    public List<Task> tasks(Split split, int n, long seed, int difficulty) {
      Random r = new Random(seed);
      List<Task> out = new ArrayList<>();
      while (out.size() < n) {
        int key = r.nextInt(10_000);
        String q = String.format("k%04d=", key);
        if (Split.of(q) == split) {
          out.add(new Task("s" + out.size(), "secret", q, code(key), 1, split,
              Map.of("answer", code(key))));
        }
      }
      return out;
    }

    @Override
    public int maxDifficulty() {
      return 1;
    }

    @Override
    public Verdict verify(Task task, String attempt) {
      String want = (String) task.data().get("answer");
      if (attempt.equals(want)) {
        return Verdict.pass(Map.of());
      }
      List<Long> wrong = new ArrayList<>();
      for (int i = 0; i < attempt.length(); i++) {
        if (i >= want.length() || attempt.charAt(i) != want.charAt(i)) {
          wrong.add((long) i);
        }
      }
      return Verdict.fail("wrong_answer", level == FeedbackLevel.FULL ? want : "",
          Map.of("wrong_positions", wrong));
    }

    @Override
    public List<TeachingExample> teaching(Split split, int n, long seed) {
      return List.of();
    }
  }

  /**
   * A one-layer model trained on documents with a hint before the answer: the true code (it learns
   * to copy it; the positional lookup forms after about 200 steps), or a random one mixed with
   * plain documents (it learns that neither the question nor the hint tells the code).
   */
  private CausalLm train(boolean trueHint) throws Exception {
    SecretEnvironment env = new SecretEnvironment(FeedbackLevel.FULL);
    Random r = new Random(3);
    List<TeachingCorpus.Doc> docs = new ArrayList<>();
    for (Task t : env.tasks(Split.TRAIN, 3000, 5, 0)) {
      if (!trueHint) {
        docs.add(new TeachingCorpus.Doc(t.prompt(), t.reference()));
      }
      String hint = trueHint ? t.reference() : String.format("%02d", r.nextInt(97));
      docs.add(new TeachingCorpus.Doc(Reprompt.assemble(t.prompt(), null, hint, compact),
          t.reference()));
    }
    Path corpus = dir.resolve(trueHint ? "copy.jsonl" : "ignore.jsonl");
    Files.write(corpus, TeachingCorpus.pairsJsonl(docs), StandardCharsets.UTF_8);
    Path out = dir.resolve(trueHint ? "copy" : "ignore");
    Pretrainer.run(new Pretrainer.Config(corpus, out, 1, 4, 64, 16, 16, 400, 1e-2, 1e-3, 20, 0.0,
        1.0, 1, 11, 400, Pretrainer.Layout.DOCUMENTS), tok, false, null);
    return Checkpoint.load(out, DType.FLOAT32);
  }

  private SelfTeacherGap.Result gap(CausalLm model) {
    SecretEnvironment env = new SecretEnvironment(FeedbackLevel.FULL);
    return SelfTeacherGap.measure(model, tok, env, env.tasks(Split.TEST, 64, 9, 0),
        new SelfTeacherGap.Settings(64, 2, 0, 3, 1.0, 1, compact,
            List.of(FeedbackLevel.NONE, FeedbackLevel.FULL), true, true, 1));
  }

  @Test
  void aModelThatCopiesHasALargeGapAndBlamesTheWrongDigits() throws Exception {
    SelfTeacherGap.Result r = gap(train(true));
    assertThat(r.student().n()).isEqualTo(128);
    assertThat(r.student().mean()).isLessThan(0.1); // the code cannot be computed
    assertThat(r.teacher()).containsOnlyKeys(FeedbackLevel.FULL); // none: its teacher is the student
    assertThat(r.teacher().get(FeedbackLevel.FULL).mean()).isGreaterThan(0.8);
    assertThat(r.gap(FeedbackLevel.FULL)).isGreaterThan(0.7);
    assertThat(r.demonstration().mean()).isGreaterThan(0.8);
    SelfTeacherGap.Advantage a = r.advantage().get(FeedbackLevel.FULL);
    assertThat(a.wrong().n()).isGreaterThan(50);
    assertThat(a.wrong().mean()).isLessThan(-1.5);
    assertThat(a.right().mean()).isGreaterThan(a.wrong().mean() + 1.5);
    assertThat(r.table()).contains("teacher, full feedback").contains("wrong tokens");
    assertThat(r.toMap()).containsKeys("student", "teacher", "teacher_demonstration", "advantage");
  }

  @Test
  void aModelThatIgnoresItsContextHasNoGap() throws Exception {
    SelfTeacherGap.Result r = gap(train(false));
    assertThat(r.teacher().get(FeedbackLevel.FULL).mean()).isLessThan(0.15);
    assertThat(Math.abs(r.gap(FeedbackLevel.FULL))).isLessThan(0.15);
    SelfTeacherGap.Advantage a = r.advantage().get(FeedbackLevel.FULL);
    assertThat(Math.abs(a.wrong().mean())).isLessThan(0.5);
  }

  @Test
  void wilsonIntervalsAndMeans() {
    SelfTeacherGap.Rate r = new SelfTeacherGap.Rate(10, 100);
    assertThat(r.mean()).isEqualTo(0.1);
    assertThat(r.lo()).isCloseTo(0.0552, org.assertj.core.data.Offset.offset(1e-3));
    assertThat(r.hi()).isCloseTo(0.1744, org.assertj.core.data.Offset.offset(1e-3));
    assertThat(new SelfTeacherGap.Rate(0, 20).lo()).isEqualTo(0.0);
    assertThat(new SelfTeacherGap.Rate(0, 0).mean()).isNaN();
    SelfTeacherGap.Mean m = SelfTeacherGap.Mean.of(List.of(1.0, 2.0, 3.0));
    assertThat(m.mean()).isEqualTo(2.0);
    assertThat(m.ci95()).isCloseTo(1.959963984540054 / Math.sqrt(3), org.assertj.core.data.Offset.offset(1e-9));
  }

  @Test
  void charStartsMapTokensToCharacters() {
    int[] t = {tok.encode("1")[0], tok.encode("2")[0], tok.eos()};
    assertThat(SelfTeacherGap.charStarts(tok, t)).containsExactly(0, 1, 2, 2);
  }
}
