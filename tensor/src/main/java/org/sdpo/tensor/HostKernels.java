package org.sdpo.tensor;

/**
 * The CPU's kernels over host buffers, for a backend whose memory the host cannot address: it
 * copies a tensor to the host, runs the very code the CPU backend runs, and copies back. Used
 * where a method's contract fixes a host-side order (the dropout mask's one draw per element in
 * row-major order) or its result goes to the host anyway (the sampled tokens).
 */
public final class HostKernels {
  private HostKernels() {}

  /** {@link Backend#sampleRows} over host logits (B, V). */
  public static void sampleRows(Buf logits, int V, boolean[] active, double temperature, int topK,
      double topP, boolean greedy, double[] u, int[] tokens, double[] logprobs) {
    SamplingKernels.sampleRows(logits, V, active, temperature, topK, topP, greedy, u, tokens,
        logprobs);
  }

  /** {@link Backend#topK} of host rows (N, V): N*K column ids. */
  public static int[] topK(Buf x, int N, int V, int K) {
    return FusedKernels.topK(x, N, V, K);
  }

  /** {@link Backend#dropoutMask} into a host buffer. */
  public static void dropoutMask(Buf mask, double p, Rng rng) {
    FusedKernels.dropoutMask(mask, p, rng);
  }
}
