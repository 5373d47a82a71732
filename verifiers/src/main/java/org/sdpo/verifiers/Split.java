package org.sdpo.verifiers;

import java.util.Locale;

/** Train or test. Splits are disjoint by construction: a task's split is a hash of its identity. */
public enum Split {
  TRAIN,
  TEST;

  public static Split parse(String s) {
    try {
      return valueOf(s.trim().toUpperCase(Locale.ROOT));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("unknown split '" + s + "': expected train or test");
    }
  }

  /**
   * The split of a task whose identity (its canonical reference, say) is {@code key}: about one
   * task in five is a test task. Stable across runs and machines (FNV-1a over UTF-16 code units).
   */
  public static Split of(String key) {
    long h = 0xcbf29ce484222325L;
    for (int i = 0; i < key.length(); i++) {
      h ^= key.charAt(i);
      h *= 0x100000001b3L;
    }
    return Math.floorMod(h ^ (h >>> 29), 5) == 0 ? TEST : TRAIN;
  }

  public String id() {
    return name().toLowerCase(Locale.ROOT);
  }
}
