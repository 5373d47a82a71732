package org.sdpo.core;

import java.util.LinkedHashMap;
import java.util.Map;
import org.sdpo.transformer.CausalLm;
import org.sdpo.transformer.tokenizer.Tokenizer;
import org.sdpo.transformer.train.Pretrainer;
import org.sdpo.verifiers.Environment;
import org.sdpo.verifiers.FeedbackLevel;

/**
 * The self-teacher gap as a pre-training probe: every {@code every} steps, student accuracy and
 * teacher accuracy at the given feedback levels on the same held-out questions, written into
 * {@code metrics.jsonl} ({@code probe_student}, {@code probe_teacher_full}, ...), so a run shows
 * when the model learns to read its context.
 *
 * <p>With {@code stopAtStudent > 0} it also chooses the checkpoint: pre-training stops at the
 * first probe where the student's accuracy is at least {@code stopAtStudent} and the teacher, with
 * the most informative level measured, is at least {@value #TEACHER_MIN} and at least {@value
 * #GAP_MIN} above the student (the window in which RL has successes to work with and SDPO a gap
 * to distil).
 */
public final class GapProbe implements Pretrainer.Probe {
  /** Teacher accuracy (most informative level) required to stop. */
  public static final double TEACHER_MIN = 0.8;
  /** Teacher-minus-student accuracy required to stop. */
  public static final double GAP_MIN = 0.3;

  private final Environment env;
  private final Tokenizer tok;
  private final SelfTeacherGap.Settings settings;
  private final int every;
  private final double stopAtStudent;
  private final FeedbackLevel top;

  public GapProbe(Environment env, Tokenizer tok, SelfTeacherGap.Settings settings, int every,
      double stopAtStudent) {
    if (every < 1) {
      throw new IllegalArgumentException("probe_every must be >= 1, got " + every);
    }
    this.env = env;
    this.tok = tok;
    this.settings = settings;
    this.every = every;
    this.stopAtStudent = stopAtStudent;
    this.top = settings.levels().isEmpty() ? null
        : settings.levels().get(settings.levels().size() - 1);
  }

  @Override
  public int every() {
    return every;
  }

  @Override
  public Map<String, Object> measure(CausalLm model, int step) {
    SelfTeacherGap.Result r = SelfTeacherGap.measure(model, tok, env, settings);
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("student", r.student().mean());
    r.teacher().forEach((l, rate) -> m.put("teacher_" + l.id(), rate.mean()));
    if (r.demonstration() != null) {
      m.put("teacher_demonstration", r.demonstration().mean());
    }
    return m;
  }

  @Override
  public boolean stop(Map<String, Object> m) {
    if (stopAtStudent <= 0 || top == null || !(m.get("teacher_" + top.id()) instanceof Double t)) {
      return false;
    }
    double s = (Double) m.get("student");
    return s >= stopAtStudent && t >= TEACHER_MIN && t - s >= GAP_MIN;
  }
}
