package org.sdpo.verifiers;

import java.util.Locale;

/** How much an environment says about a failed attempt. */
public enum FeedbackLevel {
  /** Pass or fail only: the standard scalar-reward (RLVR) setting. */
  NONE,
  /** The kind of failure only ("Wrong Answer", "Syntax Error", ...). */
  SUMMARY,
  /** Everything a real judge would show: positions, the failing test, expected and actual. */
  FULL;

  /** Parses {@code none}, {@code summary} or {@code full} (any case). */
  public static FeedbackLevel parse(String s) {
    try {
      return valueOf(s.trim().toUpperCase(Locale.ROOT));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(
          "unknown feedback level '" + s + "': expected none, summary or full");
    }
  }

  public String id() {
    return name().toLowerCase(Locale.ROOT);
  }
}
