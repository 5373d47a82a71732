package org.sdpo.verifiers;

import java.util.List;

/**
 * An environment: draws tasks and grades attempts, explaining failures in text.
 *
 * <p>Contract of {@link #verify}: deterministic (the same task and attempt give the same verdict),
 * thread-safe, bounded in time and memory, and it never throws, whatever the attempt contains.
 * {@link Verifiers#safeVerify} enforces the last point for any implementation.
 */
public interface Environment {
  /** The environment's name ({@code code}, {@code arith}, {@code tool}, {@code external}). */
  String name();

  /** The feedback level this instance reports at. */
  FeedbackLevel feedback();

  /**
   * The same environment reporting at another feedback level; a level it does not offer (see
   * {@link #levels()}) is an {@code IllegalArgumentException} naming the levels it does.
   */
  Environment withFeedback(FeedbackLevel level);

  /** The feedback levels this environment offers, from least to most informative. */
  default List<FeedbackLevel> levels() {
    return List.of(FeedbackLevel.NONE, FeedbackLevel.SUMMARY, FeedbackLevel.FULL);
  }

  /**
   * {@code n} tasks of the given split, drawn with {@code seed}; difficulty from 1 (easiest) to
   * {@link #maxDifficulty()}, or 0 for a mix of all levels. The same arguments give the same tasks.
   */
  List<Task> tasks(Split split, int n, long seed, int difficulty);

  /**
   * Characters a correct attempt needs at most, with room to spare: the default response budget
   * ({@code max_new_tokens}) of models trained on this environment.
   */
  default int responseBudget() {
    return 64;
  }

  /** The highest difficulty level of the generator. */
  int maxDifficulty();

  /** Grades one attempt. */
  Verdict verify(Task task, String attempt);

  /**
   * Teaching material: tasks with reference solutions and plausible wrong attempts together with
   * their real feedback, for pre-training a model to read feedback in context.
   */
  List<TeachingExample> teaching(Split split, int n, long seed);
}
