/**
 * The tensor layer: {@link org.sdpo.tensor.Tensor} and its kernels, the only package of the
 * project that talks to ND4J. Everything above works with tensors and never with {@code INDArray}.
 */
package org.sdpo.tensor;
