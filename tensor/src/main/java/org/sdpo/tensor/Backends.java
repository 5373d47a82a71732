package org.sdpo.tensor;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Chooses and starts the tensor backend once per JVM and says which one runs.
 *
 * <p>ND4J decides between its CPU and CUDA backends by what is on the class path (the Maven
 * profile {@code cuda} swaps them), so the first use logs the choice, and the CUDA backend is
 * refused with a clear message on GPUs it has no kernels for ({@link CudaDeviceCheck}).
 */
public final class Backends {
  private static final Logger LOG = LoggerFactory.getLogger(Backends.class);
  private static volatile Backend current;

  private Backends() {}

  /** The backend in use, started on first call. */
  public static Backend current() {
    Backend b = current;
    if (b == null) {
      synchronized (Backends.class) {
        b = current;
        if (b == null) {
          CudaDeviceCheck.verify();
          b = new Nd4jBackend();
          LOG.info("tensor backend: {}", b.description());
          current = b;
        }
      }
    }
    return b;
  }

  /** One line describing the backend, for banners. */
  public static String describe() {
    return current().description() + ", " + VectorSupport.describe();
  }
}
