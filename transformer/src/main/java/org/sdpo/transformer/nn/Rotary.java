package org.sdpo.transformer.nn;

import org.sdpo.tensor.DType;
import org.sdpo.tensor.Tensor;
import org.sdpo.transformer.RopeConfig;

/**
 * The rotary embedding's angles: for a token at position p, pair j of every head turns by
 * p * inv_freq[j]. {@link #cosSin} returns cos and sin of those angles, (B, T, D/2), for the
 * tokens' position ids (the rotation itself is {@code F.rope}).
 *
 * <p>In float32 the angles are computed as Hugging Face computes them in float32 (inverse
 * frequencies rounded to float, the product p * inv_freq rounded to float), so a float32 model
 * rotates by the same angles at long positions; in float64 everything is double.
 */
public final class Rotary {
  private final double[] invFreq; // (D/2)
  private final DType dtype;

  public Rotary(RopeConfig rope, int headDim, DType dtype) {
    this.dtype = dtype;
    double[] f = rope.invFreq(headDim);
    if (dtype == DType.FLOAT32) {
      for (int i = 0; i < f.length; i++) {
        f[i] = (float) f[i];
      }
    }
    this.invFreq = f;
  }

  /** cos and sin (B, T, D/2) of the angles of {@code pos} (B*T position ids). */
  public Tensor[] cosSin(int[] pos, int B, int T) {
    int half = invFreq.length;
    double[] c = new double[B * T * half];
    double[] s = new double[B * T * half];
    boolean f32 = dtype == DType.FLOAT32;
    for (int i = 0; i < B * T; i++) {
      for (int j = 0; j < half; j++) {
        double a = pos[i] * invFreq[j];
        if (f32) {
          a = (float) a; // exact product of two floats, rounded as float32 arithmetic does
        }
        c[i * half + j] = Math.cos(a);
        s[i * half + j] = Math.sin(a);
      }
    }
    return new Tensor[] {Tensor.of(dtype, c, B, T, half), Tensor.of(dtype, s, B, T, half)};
  }
}
