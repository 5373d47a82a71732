package org.sdpo.tensor.cuda;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.sdpo.tensor.DeviceUnavailableException;

/**
 * Finds the NVIDIA driver ({@code libcuda.so.1}) and cuBLAS ({@code libcublas.so.13},
 * {@code libcublasLt.so.13}), in this order: the folder named by {@code -Dsdpo.cuda.path} or
 * {@code SDPO_CUDA_PATH}, each folder of {@code LD_LIBRARY_PATH}, the system's library folders,
 * {@code /usr/local/cuda/lib64} (and every {@code /usr/local/cuda-*}), and the {@code nvidia/*}
 * {@code /lib} folders of {@code python3}'s site-packages (where pip's CUDA wheels put them), and
 * the folders {@code ldconfig -p} lists for them.
 * When one is missing, the message lists every path tried.
 */
public final class CudaLibraries {
  private CudaLibraries() {}

  /** The folders searched, in order. */
  static List<Path> searchPath() {
    Set<Path> dirs = new LinkedHashSet<>();
    String own = System.getProperty("sdpo.cuda.path", System.getenv("SDPO_CUDA_PATH"));
    addAll(dirs, own);
    addAll(dirs, System.getenv("LD_LIBRARY_PATH"));
    for (String d : new String[] {"/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib",
        "/usr/local/nvidia/lib64", "/usr/local/cuda/lib64", "/usr/local/cuda/targets/x86_64-linux/lib"}) {
      dirs.add(Path.of(d));
    }
    for (Path cuda : list(Path.of("/usr/local"), "cuda-*")) {
      dirs.add(cuda.resolve("lib64"));
    }
    for (Path site : pythonSitePackages()) {
      for (Path pkg : list(site.resolve("nvidia"), "*")) {
        dirs.add(pkg.resolve("lib"));
      }
    }
    dirs.addAll(ldconfigFolders());
    return new ArrayList<>(dirs);
  }

  /**
   * The first of {@code names} found in the search path; else an {@link IllegalStateException}
   * naming what was looked for and every path tried.
   */
  public static Path find(String what, String... names) {
    List<String> tried = new ArrayList<>();
    for (Path dir : searchPath()) {
      for (String n : names) {
        Path p = dir.resolve(n);
        if (Files.isReadable(p)) {
          return p;
        }
        tried.add(p.toString());
      }
    }
    throw new DeviceUnavailableException("--device cuda: " + what + " not found (set -Dsdpo.cuda.path "
        + "or SDPO_CUDA_PATH to its folder); tried " + String.join(", ", tried));
  }

  private static void addAll(Set<Path> dirs, String pathList) {
    if (pathList != null) {
      for (String d : pathList.split(":")) {
        if (!d.isBlank()) {
          dirs.add(Path.of(d));
        }
      }
    }
  }

  private static List<Path> list(Path dir, String glob) {
    List<Path> out = new ArrayList<>();
    if (Files.isDirectory(dir)) {
      try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir, glob)) {
        ds.forEach(out::add);
      } catch (IOException e) {
        // an unreadable folder is one we cannot search
      }
    }
    out.sort(null);
    return out;
  }

  /**
   * The folders of the CUDA libraries the dynamic linker's cache knows ({@code ldconfig -p}),
   * for systems that keep them somewhere else (a container's driver mount, WSL).
   */
  static List<Path> ldconfigFolders() {
    List<Path> out = new ArrayList<>();
    for (String line : run("ldconfig", "-p").split("\n")) {
      int arrow = line.indexOf("=> ");
      if (arrow > 0 && line.contains("libcu")) {
        Path parent = Path.of(line.substring(arrow + 3).trim()).getParent();
        if (parent != null && !out.contains(parent)) {
          out.add(parent);
        }
      }
    }
    return out;
  }

  /** A command's output, or "" if it cannot run or fails. */
  private static String run(String... command) {
    try {
      Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
      String text = new String(p.getInputStream().readAllBytes());
      return p.waitFor(20, TimeUnit.SECONDS) && p.exitValue() == 0 ? text : "";
    } catch (IOException e) {
      return "";
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return "";
    }
  }

  /** python3's site-packages folders, asked of python3 itself (none if it is absent). */
  static List<Path> pythonSitePackages() {
    List<Path> out = new ArrayList<>();
    String text = run("python3", "-c",
        "import site; print('\\n'.join(site.getsitepackages()+[site.getusersitepackages()]))");
    for (String line : text.split("\n")) {
      if (!line.isBlank()) {
        out.add(Path.of(line.trim()));
      }
    }
    return out;
  }

}
