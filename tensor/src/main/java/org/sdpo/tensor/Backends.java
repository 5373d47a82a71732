package org.sdpo.tensor;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.ServiceLoader;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Chooses and starts the tensor backend once per JVM and says which one runs.
 *
 * <p>The device is {@code -Dsdpo.device}, else the environment's {@code SDPO_DEVICE}, else
 * {@code cpu}. {@code cpu} is ND4J (OpenBLAS inside; the Maven profile {@code cuda} swaps in
 * ND4J's own CUDA 11.6 backend, which {@link CudaDeviceCheck} refuses on GPUs it has no kernels
 * for). Any other name is looked up among the {@link BackendProvider}s on the class path: the
 * {@code tensor-cuda} module provides {@code cuda} (and {@code cuda-fake}, its host-memory twin
 * for tests).
 */
public final class Backends {
  private static final Logger LOG = LoggerFactory.getLogger(Backends.class);
  /** The system property that selects the device. */
  public static final String DEVICE_PROPERTY = "sdpo.device";
  private static volatile Backend current;

  private Backends() {}

  /** The backend in use, started on first call. */
  public static Backend current() {
    Backend b = current;
    if (b == null) {
      synchronized (Backends.class) {
        b = current;
        if (b == null) {
          b = open(device());
          LOG.info("tensor backend: {}", b.description());
          current = b;
        }
      }
    }
    return b;
  }

  /** The device asked for: {@code -Dsdpo.device}, else {@code SDPO_DEVICE}, else cpu. */
  public static String device() {
    String d = System.getProperty(DEVICE_PROPERTY);
    if (d == null || d.isBlank()) {
      d = System.getenv("SDPO_DEVICE");
    }
    return d == null || d.isBlank() ? "cpu" : d.trim().toLowerCase(Locale.ROOT);
  }

  private static Backend open(String device) {
    if (device.equals("cpu")) {
      try {
        CudaDeviceCheck.verify();
        Backend cpu = new Nd4jBackend();
        return ProfiledBackend.wanted() ? ProfiledBackend.wrapUntilExit(cpu) : cpu;
      } catch (NoClassDefFoundError absent) {
        throw new DeviceUnavailableException("the CPU backend (ND4J) is not part of this build "
            + "(the GPU bundle runs --device cuda): " + absent.getMessage());
      }
    }
    List<String> known = new ArrayList<>(List.of("cpu"));
    for (BackendProvider p : ServiceLoader.load(BackendProvider.class)) {
      if (p.device().equals(device)) {
        return p.open();
      }
      known.add(p.device());
    }
    throw new DeviceUnavailableException("no tensor backend for device '" + device + "' (available: "
        + String.join(", ", known) + ")");
  }

  /**
   * Makes {@code b} the backend in use and returns the one it replaces (null if none had
   * started). For tests that run the same code on two backends, and for programs that embed the
   * library with a backend they built; tensors made by one backend must not reach the other.
   */
  public static synchronized Backend install(Backend b) {
    Backend previous = current;
    current = b;
    return previous;
  }

  /** One line describing the backend, for banners (the CPU's with its vector kernels). */
  public static String describe() {
    Backend b = current();
    return ProfiledBackend.unwrap(b) instanceof Nd4jBackend
        ? b.description() + ", " + VectorSupport.describe()
        : b.description();
  }
}
