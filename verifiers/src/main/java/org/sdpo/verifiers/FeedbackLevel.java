package org.sdpo.verifiers;

import java.util.Locale;

/**
 * How much an environment says about a failed attempt. Every environment offers {@link #NONE};
 * which others it offers is {@link Environment#levels()}.
 */
public enum FeedbackLevel {
  /** Pass or fail only: the standard scalar-reward (RLVR) setting. */
  NONE,
  /** The kind of failure only ("Wrong Answer", "Syntax Error", ...). */
  SUMMARY,
  /**
   * A control: feedback in words that a small model cannot act on ("too high"), so a teacher that
   * reads it should be no better than the student.
   */
  UNUSABLE,
  /** Only what is wrong: the wrong parts of the attempt and their correct values, nothing else. */
  PARTIAL,
  /** Everything a real judge would show: positions, the failing test, expected and actual. */
  FULL;

  /** Parses {@code none}, {@code summary}, {@code unusable}, {@code partial} or {@code full}. */
  public static FeedbackLevel parse(String s) {
    try {
      return valueOf(s.trim().toUpperCase(Locale.ROOT));
    } catch (IllegalArgumentException | NullPointerException e) {
      throw new IllegalArgumentException("unknown feedback level '" + s
          + "': expected none, summary, unusable, partial or full");
    }
  }

  public String id() {
    return name().toLowerCase(Locale.ROOT);
  }
}
