package org.sdpo.tensor;

import java.util.SplittableRandom;

/**
 * An explicit, seeded source of random numbers. There is no hidden global seed anywhere in the
 * project: whatever needs randomness takes an {@code Rng}. The same seed gives the same stream on
 * every machine (the numbers are drawn in Java, not by a native library).
 */
public final class Rng {
  private final long seed;
  private final SplittableRandom random;

  public Rng(long seed) {
    this.seed = seed;
    this.random = new SplittableRandom(seed);
  }

  private Rng(long seed, SplittableRandom random) {
    this.seed = seed;
    this.random = random;
  }

  /** The seed this generator started from. */
  public long seed() {
    return seed;
  }

  /** A new, independent generator derived from this one (advances this one). */
  public Rng split() {
    SplittableRandom child = random.split();
    return new Rng(seed, child);
  }

  /** Uniform in [0, 1). */
  public double nextDouble() {
    return random.nextDouble();
  }

  /** Uniform integer in [0, bound). */
  public int nextInt(int bound) {
    return random.nextInt(bound);
  }

  /** Uniform integer in [origin, bound). */
  public int nextInt(int origin, int bound) {
    return random.nextInt(origin, bound);
  }

  /** Standard normal. */
  public double nextGaussian() {
    return random.nextGaussian();
  }

  public long nextLong() {
    return random.nextLong();
  }

  public boolean nextBoolean() {
    return random.nextBoolean();
  }
}
