package org.sdpo.tensor.cuda;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;

/**
 * One launch's arguments, packed as the kernel's parameter buffer: each value at the next offset
 * aligned to its size, little-endian (the layout {@code cuLaunchKernel} takes through
 * {@code CU_LAUNCH_PARAM_BUFFER_POINTER}). Every value is checked against the kernel's declared
 * parameter list ({@link KernelSource}) as it is added.
 */
public final class KernelArgs {
  private final String kernel;
  private final List<KernelSource.Param> sig;
  private final ByteBuffer buf = ByteBuffer.allocate(1024).order(ByteOrder.LITTLE_ENDIAN);
  private int next;

  KernelArgs(String kernel) {
    this.kernel = kernel;
    this.sig = KernelSource.signature(kernel);
  }

  public String kernel() {
    return kernel;
  }

  private void at(KernelSource.Param p) {
    if (next >= sig.size()) {
      throw new IllegalStateException(kernel + ": more than its " + sig.size() + " parameters");
    }
    if (sig.get(next) != p) {
      throw new IllegalStateException(kernel + ": parameter " + next + " is " + sig.get(next)
          + ", not " + p);
    }
    next++;
    buf.position((buf.position() + p.align - 1) / p.align * p.align);
  }

  KernelArgs i32(int v) {
    at(KernelSource.Param.INT);
    buf.putInt(v);
    return this;
  }

  KernelArgs f64(double v) {
    at(KernelSource.Param.DOUBLE);
    buf.putDouble(v);
    return this;
  }

  KernelArgs ptr(long address) {
    at(KernelSource.Param.POINTER);
    buf.putLong(address);
    return this;
  }

  /** The flash kernels' FaHeads: 8 slots of 3 strides, row by row. */
  KernelArgs heads(int[][] s) {
    at(KernelSource.Param.HEADS);
    if (s.length != 8) {
      throw new IllegalArgumentException(kernel + ": FaHeads has 8 slots, got " + s.length);
    }
    for (int[] slot : s) {
      for (int i = 0; i < 3; i++) {
        buf.putInt(slot[i]);
      }
    }
    return this;
  }

  KernelArgs dims(Dims d) {
    at(KernelSource.Param.DIMS);
    d.pack(buf);
    return this;
  }

  /**
   * The packed bytes, padded to a multiple of 8 (as the struct of these parameters would be);
   * fails unless every parameter was given.
   */
  public ByteBuffer packed() {
    if (next != sig.size()) {
      throw new IllegalStateException(kernel + ": " + next + " of " + sig.size()
          + " parameters given");
    }
    ByteBuffer b = buf.duplicate().order(ByteOrder.LITTLE_ENDIAN);
    b.limit((b.position() + 7) / 8 * 8).position(0); // the size a struct of these would have
    return b;
  }

  /** The byte offset of each parameter in a packed buffer of {@code sig}. */
  static int[] offsets(List<KernelSource.Param> sig) {
    int[] off = new int[sig.size()];
    int at = 0;
    for (int i = 0; i < off.length; i++) {
      KernelSource.Param p = sig.get(i);
      at = (at + p.align - 1) / p.align * p.align;
      off[i] = at;
      at += p.size;
    }
    return off;
  }
}
