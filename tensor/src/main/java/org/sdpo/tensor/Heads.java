package org.sdpo.tensor;

/**
 * Attention heads (B, heads, T, D) where they lie in memory, for kernels written as loops: element
 * (b, h, i, d) of the heads is {@code buf[b sb + h sh + i st + d]}, the head dimension contiguous.
 * Contiguous heads have sb = heads T D, sh = T D, st = D; a GPT-2 block's query heads, read in its
 * projection's output (B, T, 3, H, D), have sb = 3 T H D, sh = D, st = 3 H D.
 */
public final class Heads {
  public final Buf buf;
  /** Strides in elements: batch row, head, position. */
  public final int sb;
  public final int sh;
  public final int st;

  public Heads(Buf buf, int sb, int sh, int st) {
    this.buf = buf;
    this.sb = sb;
    this.sh = sh;
    this.st = st;
  }

  /** Contiguous (B, heads, T, D) heads in buf. */
  public static Heads contiguous(Buf buf, int heads, int T, int D) {
    return new Heads(buf, heads * T * D, T * D, D);
  }

  /**
   * The elements of heads (B, heads, T, D) with these strides span: from the first to one past
   * the last, the size of a buffer that holds them.
   */
  public static long span(int[] shape, long sb, long sh, long st) {
    return (shape[0] - 1L) * sb + (shape[1] - 1L) * sh + (shape[2] - 1L) * st + shape[3];
  }

  /** Where row i of head h of batch row b starts in buf. */
  public int row(int b, int h, int i) {
    return b * sb + h * sh + i * st;
  }
}
