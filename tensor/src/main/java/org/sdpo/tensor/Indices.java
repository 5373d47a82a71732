package org.sdpo.tensor;

import java.util.function.Supplier;

/**
 * Integer indices (token ids, targets, the column picked from each row) in a backend's memory,
 * made by {@link Backend#indices(int[])}: uploaded once and read by every kernel that needs them,
 * forward and backward (the embedding's gather and scatter, the cross-entropy's loss and
 * gradient), so a device backend copies them to the device once instead of once per kernel.
 *
 * <p>Or computed by a backend ({@link Backend#topK}): a device backend's then exist only in its
 * memory, with a known bound (every index in [0, bound)), and {@link #values()} copies them to the
 * host on first use (only a host backend, a test or a caller that asks for them needs that).
 *
 * <p>Immutable: {@link #values()} is a copy of the array taken at upload (host backends read it;
 * every backend validates uploaded indices against it). A device backend keeps its own copy in
 * {@link #handle()}.
 */
public final class Indices {
  private int[] values; // null until read, for indices a device backend computed
  private final int length;
  private final int bound;
  private final Object handle;
  private final Supplier<int[]> reader;

  private Indices(int[] values, int length, int bound, Object handle, Supplier<int[]> reader) {
    this.values = values;
    this.length = length;
    this.bound = bound;
    this.handle = handle;
    this.reader = reader;
  }

  /** Indices a host backend reads directly: a copy of {@code values}. */
  public static Indices host(int[] values) {
    return new Indices(values.clone(), values.length, -1, null, null);
  }

  /** Indices a device backend also holds in its own memory ({@code handle}, its business). */
  public static Indices onDevice(int[] values, Object handle) {
    return new Indices(values.clone(), values.length, -1, handle, null);
  }

  /**
   * Indices a backend computed, each in [0, {@code bound}): {@code values} on a host backend, or
   * null with {@code reader} copying them from {@code handle} when first asked.
   */
  public static Indices computed(int length, int bound, int[] values, Object handle,
      Supplier<int[]> reader) {
    if (values == null && reader == null) {
      throw new IllegalArgumentException("computed indices need their values or a reader");
    }
    return new Indices(values, length, bound, handle, reader);
  }

  /** How many indices. */
  public int length() {
    return length;
  }

  /**
   * A bound every index is known to be under (computed indices), or -1 where only the values
   * tell (uploaded ones).
   */
  public int bound() {
    return bound;
  }

  /** The indices; callers must not modify the array. Computed on a device: copied on first use. */
  public synchronized int[] values() {
    if (values == null) {
      values = reader.get();
    }
    return values;
  }

  /** The device backend's copy (its own type), or null for host backends. */
  public Object handle() {
    return handle;
  }
}
