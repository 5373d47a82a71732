package org.sdpo.transformer.nn;

import org.sdpo.tensor.Backend;
import org.sdpo.tensor.Backends;
import org.sdpo.tensor.DType;
import org.sdpo.tensor.Indices;
import org.sdpo.tensor.Tensor;
import org.sdpo.tensor.Workspace;
import org.sdpo.transformer.RopeConfig;

/**
 * The rotary embedding's angles: for a token at position p, pair j of every head turns by
 * p * inv_freq[j]. {@link #cosSin} returns cos and sin of those angles, (B, T, D/2), for the
 * tokens' position ids (the rotation itself is {@code F.rope}), gathered from tables computed
 * once.
 *
 * <p>In float32 the angles are computed as Hugging Face computes them in float32 (inverse
 * frequencies rounded to float, the product p * inv_freq rounded to float), so a float32 model
 * rotates by the same angles at long positions; in float64 everything is double.
 */
public final class Rotary {
  private static final int CHUNK = 1024; // table rows computed and written at a time
  private final double[] invFreq; // (D/2)
  private final DType dtype;
  private final int maxPositions;
  private Tensor cosTable; // (rows, D/2): cos of the angles of positions 0..rows-1
  private Tensor sinTable;
  private Backend tableBackend; // the backend the tables live on

  public Rotary(RopeConfig rope, int headDim, DType dtype, int maxPositions) {
    this.dtype = dtype;
    this.maxPositions = maxPositions;
    double[] f = rope.invFreq(headDim);
    if (dtype == DType.FLOAT32) {
      for (int i = 0; i < f.length; i++) {
        f[i] = (float) f[i];
      }
    }
    this.invFreq = f;
  }

  /**
   * cos and sin (B, T, D/2) of the angles of {@code pos} (B*T position ids, each below the
   * model's maximum): rows gathered from tables of every position up to {@code coverAtLeast}
   * or the largest id (a KV cache passes its capacity), so the ids reach the device as ids and a
   * recorded decode step gathers the right rows at every replay. The tables grow by doubling, up
   * to the model's maximum, and are computed once per backend.
   */
  public Tensor[] cosSin(int[] pos, int B, int T, int coverAtLeast) {
    int need = coverAtLeast;
    for (int p : pos) {
      need = Math.max(need, p + 1);
    }
    ensureRows(Math.min(need, maxPositions));
    Indices ids = Backends.current().indices(pos);
    return new Tensor[] {cosTable.gatherRows(ids, B, T), sinTable.gatherRows(ids, B, T)};
  }

  private void ensureRows(int rows) {
    Backend be = Backends.current();
    if (cosTable != null && tableBackend == be && cosTable.dim(0) >= rows) {
      return;
    }
    // the next power of two >= rows (at least 256), at most the model's maximum
    int n = Math.min(Math.max(256, Integer.highestOneBit(Math.max(1, rows - 1)) << 1),
        maxPositions);
    int half = invFreq.length;
    Tensor[] t = Workspace.persistent(() -> new Tensor[] {Tensor.empty(dtype, n, half),
        Tensor.empty(dtype, n, half)});
    boolean f32 = dtype == DType.FLOAT32;
    double[] c = new double[CHUNK * half];
    double[] s = new double[CHUNK * half];
    for (int r0 = 0; r0 < n; r0 += CHUNK) {
      int r1 = Math.min(n, r0 + CHUNK);
      for (int p = r0; p < r1; p++) {
        for (int j = 0; j < half; j++) {
          double a = p * invFreq[j];
          if (f32) {
            a = (float) a; // exact product of two floats, rounded as float32 arithmetic does
          }
          c[(p - r0) * half + j] = Math.cos(a);
          s[(p - r0) * half + j] = Math.sin(a);
        }
      }
      t[0].write(r0 * half, c, (r1 - r0) * half);
      t[1].write(r0 * half, s, (r1 - r0) * half);
    }
    cosTable = t[0];
    sinTable = t[1];
    tableBackend = be;
  }
}
