package org.sdpo.tensor;

/**
 * Integer indices (token ids, targets, the column picked from each row) in a backend's memory,
 * made by {@link Backend#indices(int[])}: uploaded once and read by every kernel that needs them,
 * forward and backward (the embedding's gather and scatter, the cross-entropy's loss and
 * gradient), so a device backend copies them to the device once instead of once per kernel.
 *
 * <p>Immutable: {@link #values()} is a copy of the array taken at upload (host backends read it;
 * every backend validates against it). A device backend keeps its own copy in {@link #handle()}.
 */
public final class Indices {
  private final int[] values;
  private final Object handle;

  private Indices(int[] values, Object handle) {
    this.values = values;
    this.handle = handle;
  }

  /** Indices a host backend reads directly: a copy of {@code values}. */
  public static Indices host(int[] values) {
    return new Indices(values.clone(), null);
  }

  /** Indices a device backend also holds in its own memory ({@code handle}, its business). */
  public static Indices onDevice(int[] values, Object handle) {
    return new Indices(values.clone(), handle);
  }

  /** How many indices. */
  public int length() {
    return values.length;
  }

  /** The indices as uploaded; callers must not modify the array. */
  public int[] values() {
    return values;
  }

  /** The device backend's copy (its own type), or null for host backends. */
  public Object handle() {
    return handle;
  }
}
