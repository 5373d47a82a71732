package org.sdpo.tensor;

import java.util.Arrays;

/**
 * Static helpers for shapes ({@code int[]}, outermost axis first, row-major). Every failure is an
 * {@link IllegalArgumentException} whose message names the op and the shapes involved.
 */
public final class Shape {
  private Shape() {}

  /** Number of elements of a shape; 1 for a scalar (rank 0). */
  public static long numel(int[] shape) {
    long n = 1;
    for (int d : shape) {
      n *= d;
    }
    return n;
  }

  /** The strides, in elements, of a contiguous row-major tensor of {@code shape}. */
  public static int[] rowMajorStrides(int[] shape) {
    int[] s = new int[shape.length];
    int acc = 1;
    for (int i = shape.length - 1; i >= 0; i--) {
      s[i] = acc;
      acc *= shape[i];
    }
    return s;
  }

  /** {@code [2, 3, 4]}. */
  public static String str(int[] shape) {
    return Arrays.toString(shape);
  }

  /** Checks that every dimension is positive; returns a defensive copy. */
  public static int[] checked(String op, int[] shape) {
    for (int d : shape) {
      if (d <= 0) {
        throw new IllegalArgumentException(
            op + ": dimensions must be positive, got shape " + str(shape));
      }
    }
    if (numel(shape) > Integer.MAX_VALUE) {
      throw new IllegalArgumentException(
          op + ": shape " + str(shape) + " has more than 2^31-1 elements");
    }
    return shape.clone();
  }

  /** Resolves a possibly negative axis ({@code -1} = last) against a rank. */
  public static int axis(String op, int axis, int rank) {
    int a = axis < 0 ? axis + rank : axis;
    if (a < 0 || a >= Math.max(rank, 1) || rank == 0) {
      throw new IllegalArgumentException(
          op + ": axis " + axis + " is out of range for a tensor of rank " + rank);
    }
    return a;
  }

  /** Resolves and sorts a list of axes, rejecting duplicates. An empty list means every axis. */
  public static int[] axes(String op, int[] axes, int rank) {
    if (axes.length == 0) {
      int[] all = new int[rank];
      for (int i = 0; i < rank; i++) {
        all[i] = i;
      }
      return all;
    }
    int[] r = new int[axes.length];
    for (int i = 0; i < axes.length; i++) {
      r[i] = axis(op, axes[i], rank);
    }
    Arrays.sort(r);
    for (int i = 1; i < r.length; i++) {
      if (r[i] == r[i - 1]) {
        throw new IllegalArgumentException(op + ": axis " + r[i] + " is listed twice");
      }
    }
    return r;
  }

  /**
   * Numpy broadcasting: shapes are aligned at their last axis; each pair of dimensions must be
   * equal or one of them 1.
   */
  public static int[] broadcast(String op, int[] a, int[] b) {
    int rank = Math.max(a.length, b.length);
    int[] out = new int[rank];
    for (int i = 0; i < rank; i++) {
      int da = i < rank - a.length ? 1 : a[i - (rank - a.length)];
      int db = i < rank - b.length ? 1 : b[i - (rank - b.length)];
      if (da != db && da != 1 && db != 1) {
        throw new IllegalArgumentException(
            op + ": shapes " + str(a) + " and " + str(b) + " cannot be broadcast together");
      }
      out[i] = Math.max(da, db);
    }
    return out;
  }

  /** True if {@code from} can be broadcast to exactly {@code to}. */
  public static boolean broadcastsTo(int[] from, int[] to) {
    if (from.length > to.length) {
      return false;
    }
    int off = to.length - from.length;
    for (int i = 0; i < from.length; i++) {
      if (from[i] != to[i + off] && from[i] != 1) {
        return false;
      }
    }
    return true;
  }

  /** The shape after reducing {@code axes} (sorted, resolved) with or without keeping them. */
  public static int[] reduced(int[] shape, int[] axes, boolean keepDims) {
    int[] out = new int[keepDims ? shape.length : shape.length - axes.length];
    int j = 0;
    for (int i = 0; i < shape.length; i++) {
      boolean reducedAxis = Arrays.binarySearch(axes, i) >= 0;
      if (keepDims) {
        out[j++] = reducedAxis ? 1 : shape[i];
      } else if (!reducedAxis) {
        out[j++] = shape[i];
      }
    }
    return out;
  }

  /** Product of the dimensions from {@code start} (inclusive) to {@code end} (exclusive). */
  public static int prod(int[] shape, int start, int end) {
    int n = 1;
    for (int i = start; i < end; i++) {
      n *= shape[i];
    }
    return n;
  }

  static long[] toLong(int[] shape) {
    long[] l = new long[shape.length];
    for (int i = 0; i < shape.length; i++) {
      l[i] = shape[i];
    }
    return l;
  }

  /** ND4J's long shapes and strides as ints (every tensor here has fewer than 2^31 elements). */
  static int[] toInt(long[] l) {
    int[] r = new int[l.length];
    for (int i = 0; i < l.length; i++) {
      r[i] = (int) l[i];
    }
    return r;
  }
}
