package org.sdpo.verifiers.key;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.sdpo.verifiers.Environment;
import org.sdpo.verifiers.FeedbackLevel;
import org.sdpo.verifiers.Split;
import org.sdpo.verifiers.Task;
import org.sdpo.verifiers.TeachingExample;
import org.sdpo.verifiers.Verdict;
import org.sdpo.verifiers.Verifiers;

/**
 * A hidden key: the environment of test-time discovery. Each lock ({@code K0417=}) opens with an
 * eight-letter key over {@code a..h} that no model can infer from the question (a hash of the lock
 * number); the reward is 1 for the exact key only. Best-of-k is hopeless (8^-8 per attempt), but
 * the feedback is a Wordle-style mask aligned to the attempt: the key's letter where the attempt
 * has it right (lowercase), the attempt's letter in uppercase where it is wrong (not this letter
 * here), {@code ?} where the attempt has no letter of the alphabet ({@code bDhAEcGH}). A model that
 * has learnt to read the mask is a teacher that knows exactly which of one attempt's letters are
 * right and which are not; test-time SDPO writes that into the weights batch after batch. It is
 * the mechanism of the paper's test-time claim, not a reasoning task.
 *
 * <p>Levels: none; unusable (how many letters are right, {@code 3 right}); full (the mask).
 */
public final class KeyEnvironment implements Environment {
  /** Letters of a key. */
  public static final int LENGTH = 8;
  /** The key alphabet. */
  public static final String ALPHABET = "abcdefgh";
  private static final int LOCKS = 10_000;
  private static final List<FeedbackLevel> LEVELS = List.of(FeedbackLevel.NONE,
      FeedbackLevel.UNUSABLE, FeedbackLevel.FULL);

  private final FeedbackLevel level;

  public KeyEnvironment(FeedbackLevel level) {
    this.level = level;
    Verifiers.offered(this, level);
  }

  @Override
  public String name() {
    return "key";
  }

  @Override
  public FeedbackLevel feedback() {
    return level;
  }

  @Override
  public List<FeedbackLevel> levels() {
    return LEVELS;
  }

  @Override
  public Environment withFeedback(FeedbackLevel l) {
    return new KeyEnvironment(l);
  }

  @Override
  public int maxDifficulty() {
    return 1;
  }

  /** The letters and the end of text. */
  @Override
  public int responseBudget() {
    return LENGTH + 2;
  }

  /** The question of lock {@code n}. */
  public static String question(int n) {
    return String.format("K%04d=", n);
  }

  /** The key of lock {@code n}: eight letters from a 64-bit mix of the number. */
  public static String key(int n) {
    long h = (n + 1) * 0x9E3779B97F4A7C15L;
    StringBuilder sb = new StringBuilder();
    for (int i = 0; i < LENGTH; i++) {
      h ^= h >>> 31;
      h *= 0xBF58476D1CE4E5B9L;
      h ^= h >>> 29;
      sb.append(ALPHABET.charAt((int) Math.floorMod(h, (long) ALPHABET.length())));
    }
    return sb.toString();
  }

  @Override
  public List<Task> tasks(Split split, int n, long seed, int difficulty) {
    if (difficulty < 0 || difficulty > 1) {
      throw new IllegalArgumentException("key: difficulty must be 0 or 1, got " + difficulty);
    }
    Random r = new Random(seed);
    List<Task> out = new ArrayList<>();
    for (long tries = 0; out.size() < n; tries++) {
      if (tries > 1000L * n + 100_000) {
        throw new IllegalStateException("key: cannot draw " + n + " " + split.id() + " tasks");
      }
      int lock = r.nextInt(LOCKS);
      String q = question(lock);
      if (Split.of(q) != split) {
        continue;
      }
      Map<String, Object> data = new LinkedHashMap<>();
      data.put("lock", (long) lock);
      data.put("key", key(lock));
      out.add(new Task("key-" + split.id() + "-" + seed + "-" + out.size(), "key", q, key(lock), 1,
          split, data));
    }
    return out;
  }

  @Override
  public Verdict verify(Task task, String attempt) {
    if (!(task.data().get("key") instanceof String key) || key.isEmpty()) {
      return Verdict.fail("bad_task", level == FeedbackLevel.NONE ? "" : "bad task", Map.of());
    }
    String a = attempt.stripTrailing();
    if (a.equals(key)) {
      return Verdict.pass(Map.of());
    }
    StringBuilder mask = new StringBuilder();
    List<Long> wrong = new ArrayList<>();
    int right = 0;
    for (int i = 0; i < Math.max(a.length(), key.length()); i++) {
      boolean ok = i < a.length() && i < key.length() && a.charAt(i) == key.charAt(i);
      right += ok ? 1 : 0;
      if (i < a.length() && !ok) {
        wrong.add((long) i);
      }
      if (i < key.length()) {
        char c = i < a.length() ? a.charAt(i) : '?';
        mask.append(ok ? key.charAt(i) : ALPHABET.indexOf(c) >= 0 ? Character.toUpperCase(c) : '?');
      }
    }
    String text = switch (level) {
      case FULL -> mask.toString();
      case UNUSABLE -> right + " right";
      default -> "";
    };
    Map<String, Object> details = new LinkedHashMap<>();
    details.put("wrong_positions", wrong);
    details.put("right_letters", (long) right);
    return Verdict.fail("wrong_key", text, details);
  }

  /**
   * Wrong attempts with every density of right letters: each letter right with a probability drawn
   * per example from [0, 1), else another letter; the mask then reveals those letters (dense masks
   * make the copy easy to learn, sparse ones are what a guessing model gets).
   */
  @Override
  public List<TeachingExample> teaching(Split split, int n, long seed) {
    Random r = new Random(seed ^ 0x6b6579L);
    List<TeachingExample> out = new ArrayList<>();
    for (Task t : tasks(split, n, seed, 0)) {
      String key = t.reference();
      double p = r.nextDouble();
      StringBuilder sb = new StringBuilder();
      for (int i = 0; i < key.length(); i++) {
        char c = key.charAt(i);
        sb.append(r.nextDouble() < p ? c
            : ALPHABET.charAt((ALPHABET.indexOf(c) + 1 + r.nextInt(ALPHABET.length() - 1))
                % ALPHABET.length()));
      }
      String wrong = sb.toString();
      if (wrong.equals(key)) { // all letters drawn right: spoil the last one
        char c = key.charAt(LENGTH - 1);
        wrong = key.substring(0, LENGTH - 1)
            + ALPHABET.charAt((ALPHABET.indexOf(c) + 1) % ALPHABET.length());
      }
      out.add(new TeachingExample(t, key, wrong, verify(t, wrong)));
    }
    return out;
  }
}
