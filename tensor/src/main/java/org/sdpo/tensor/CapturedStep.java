package org.sdpo.tensor;

/**
 * A step (a training step, say) recorded once on a device and replayed: on a GPU, a CUDA graph,
 * whose replay launches every kernel of the step in one call instead of one call per kernel. Made
 * by {@link Backend#captureStep}.
 *
 * <p>What a replay sees: the step's Java code ran once, while it was recorded; a replay runs its
 * kernels again, with the same shapes, the same memory and the same scalar arguments. What may
 * change from one replay to the next lives in memory the kernels read:
 *
 * <ul>
 *   <li>int arrays the step passed to {@link Backend#indices} (token ids, targets) are copied
 *       again from those same arrays before each replay: refill them in place. An array the step
 *       made itself while it was recorded keeps the values it had then: a decode step with a KV
 *       cache must be given its position ids (the sampler does), since the ones
 *       {@code CausalLm.forward} would make count from the cache's length at recording;
 *   <li>tensors the caller writes between replays (AdamW's learning rate and bias corrections,
 *       written by {@code AdamW.prepare}).
 * </ul>
 *
 * Anything the step decided on the host while it was recorded (a shape, a branch, a number passed
 * to a kernel) stays as it was. Tensors the step made are valid after each replay and hold that
 * replay's values (the loss, the gradient norm); the memory of every tensor and scratch buffer the
 * step used belongs to it until {@link #close}.
 */
public interface CapturedStep extends AutoCloseable {

  /** Runs the recorded step once more. */
  void replay();

  /** Kernel launches (and matrix multiplies) the step recorded: what one replay runs. */
  int launches();

  /** Frees the recorded step and gives its memory back to the backend. */
  @Override
  void close();
}
