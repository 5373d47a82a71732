package org.sdpo.tensor;

/**
 * The memory behind a {@link Tensor}, owned by a {@link Backend}. Only the backend that made it
 * looks inside; everything above the tensor layer sees tensors, never storage.
 */
public interface Storage {}
