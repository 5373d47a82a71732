package org.sdpo.tensor;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;

/**
 * Refuses GPUs that ND4J's CUDA 11.6 backend has no kernels for.
 *
 * <p>{@code nd4j-cuda-11.6:1.0.0-M2.1} ships machine code for compute capabilities 3.7, 5.0, 5.2,
 * 6.0, 6.1, 7.0, 7.5, 8.0 and 8.6 and no PTX, so the driver cannot compile kernels for newer
 * chips: 8.6 code runs on 8.6 to 8.9 (Ampere, Ada), and Hopper (9.0: H100, H200) or Blackwell fail
 * with "no kernel image is available". This check runs before ND4J touches the GPU, so the user
 * gets a message that says what is wrong instead of a native crash.
 */
public final class CudaDeviceCheck {
  /** Lowest and highest supported compute capability, as major*10 + minor. */
  static final int MIN_CC = 37;

  static final int MAX_CC = 89;

  private CudaDeviceCheck() {}

  /** A GPU as {@code nvidia-smi} reports it. */
  public record Gpu(String name, int major, int minor) {
    int cc() {
      return major * 10 + minor;
    }
  }

  /** True if ND4J's CUDA backend is on the class path (checked without loading it). */
  public static boolean cudaBackendPresent() {
    try {
      Class.forName("org.nd4j.linalg.jcublas.JCublasBackend", false,
          CudaDeviceCheck.class.getClassLoader());
      return true;
    } catch (ClassNotFoundException e) {
      return false;
    }
  }

  /**
   * The reason the given GPUs cannot run ND4J's CUDA 11.6 kernels, or null if all can. An empty
   * list (no GPU found) is refused too.
   */
  public static String refusal(List<Gpu> gpus) {
    if (gpus.isEmpty()) {
      return "the CUDA backend (built with -Pcuda) found no NVIDIA GPU; "
          + "rebuild without -Pcuda to run on the CPU";
    }
    for (Gpu g : gpus) {
      if (g.cc() < MIN_CC || g.cc() > MAX_CC) {
        return String.format(Locale.ROOT,
            "GPU '%s' has compute capability %d.%d, but ND4J's CUDA 11.6 backend (nd4j-cuda-11.6 "
                + "1.0.0-M2.1) only has kernels for compute capability 3.7 to 8.9 (up to Ampere and "
                + "Ada; Hopper H100/H200 and newer are not supported). Rebuild without -Pcuda to "
                + "run on the CPU backend.",
            g.name(), g.major(), g.minor());
      }
    }
    return null;
  }

  /** Parses {@code nvidia-smi --query-gpu=name,compute_cap --format=csv,noheader} output. */
  public static List<Gpu> parse(List<String> lines) {
    List<Gpu> gpus = new ArrayList<>();
    for (String line : lines) {
      int comma = line.lastIndexOf(',');
      if (comma < 0) {
        continue;
      }
      String name = line.substring(0, comma).trim();
      String cap = line.substring(comma + 1).trim();
      int dot = cap.indexOf('.');
      if (dot < 0) {
        continue;
      }
      try {
        gpus.add(new Gpu(name, Integer.parseInt(cap.substring(0, dot)),
            Integer.parseInt(cap.substring(dot + 1))));
      } catch (NumberFormatException e) {
        // a line we do not understand: skip it
      }
    }
    return gpus;
  }

  /** Asks {@code nvidia-smi}; null if it cannot be run. */
  static List<Gpu> queryNvidiaSmi() {
    try {
      Process p = new ProcessBuilder("nvidia-smi", "--query-gpu=name,compute_cap",
          "--format=csv,noheader").redirectErrorStream(true).start();
      List<String> lines = new ArrayList<>();
      try (BufferedReader r = new BufferedReader(
          new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
        String line;
        while ((line = r.readLine()) != null) {
          lines.add(line);
        }
      }
      if (!p.waitFor(10, TimeUnit.SECONDS) || p.exitValue() != 0) {
        return null;
      }
      return parse(lines);
    } catch (IOException e) {
      return null;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return null;
    }
  }

  /**
   * Throws {@link UnsupportedOperationException} with the reason if the CUDA backend is on the
   * class path and the machine's GPU cannot run it. Does nothing on the CPU backend.
   */
  public static void verify() {
    if (!cudaBackendPresent()) {
      return;
    }
    List<Gpu> gpus = queryNvidiaSmi();
    if (gpus == null) {
      return; // no nvidia-smi: let ND4J report what it finds
    }
    String reason = refusal(gpus);
    if (reason != null) {
      throw new UnsupportedOperationException(reason);
    }
  }
}
