package org.sdpo.tensor.cuda;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The kernels' parameter lists, read from the CUDA sources themselves (bundled next to the
 * fatbin): the one place both the real driver and the fake device learn what a kernel takes, so
 * the Java side cannot pack arguments in an order or type the kernel does not declare.
 */
public final class KernelSource {
  /** The types a kernel parameter may have. */
  public enum Param {
    INT(4, 4),
    DOUBLE(8, 8),
    POINTER(8, 8),
    /** The {@code Dims} struct: rank, n, shape[6], stride[4][6], mul[6], shr[6], all 32-bit. */
    DIMS(4 * (2 + Dims.MAX_RANK * 7), 4),
    /** The flash kernels' {@code FaHeads}: int s[8][3], each tensor's b, h and t strides. */
    HEADS(4 * 8 * 3, 4);

    final int size;
    final int align;

    Param(int size, int align) {
      this.size = size;
      this.align = align;
    }
  }

  static final String MAIN = "sdpo_kernels.cu";
  static final String TYPED = "sdpo_kernels_typed.cuh";
  /** A kernel's declaration, with or without {@code __launch_bounds__(...)} before its name. */
  private static final String DECL =
      "extern \"C\" __global__ void (?:__launch_bounds__\\([^)]*\\) )?";
  private static final Pattern PLAIN = Pattern.compile(DECL + "(\\w+)\\(([^)]*)\\)");
  private static final Pattern TYPED_DECL =
      Pattern.compile(DECL + "SFX\\((\\w+)\\)\\(([^)]*)\\)");

  private static volatile Map<String, List<Param>> signatures;

  private KernelSource() {}

  /** Every kernel's name (with its _f32/_f64 suffix) and parameter types, in source order. */
  public static Map<String, List<Param>> signatures() {
    Map<String, List<Param>> s = signatures;
    if (s == null) {
      s = parse(read(MAIN), read(TYPED));
      signatures = s;
    }
    return s;
  }

  /**
   * The name of the kernel's source: itself for a kernel of one element type (in
   * {@code sdpo_kernels.cu}), the name without {@code _f32}/{@code _f64} for an instance of
   * {@code sdpo_kernels_typed.cuh}.
   */
  public static String sourceName(String kernel) {
    signature(kernel);
    return plain().contains(kernel) ? kernel : kernel.substring(0, kernel.length() - 4);
  }

  private static volatile java.util.Set<String> plain;

  /** The kernels of one element type, declared in sdpo_kernels.cu itself (read once). */
  private static java.util.Set<String> plain() {
    java.util.Set<String> p = plain;
    if (p == null) {
      p = java.util.Set.copyOf(PLAIN.matcher(read(MAIN)).results().map(m -> m.group(1)).toList());
      plain = p;
    }
    return p;
  }

  /** The parameter types of one kernel; a name the sources do not declare is a bug. */
  public static List<Param> signature(String kernel) {
    List<Param> p = signatures().get(kernel);
    if (p == null) {
      throw new IllegalArgumentException("no kernel '" + kernel + "' in " + MAIN);
    }
    return p;
  }

  static Map<String, List<Param>> parse(String main, String typed) {
    Map<String, List<Param>> out = new LinkedHashMap<>();
    Matcher m = PLAIN.matcher(main);
    while (m.find()) {
      out.put(m.group(1), params(m.group(1), m.group(2)));
    }
    for (String suffix : new String[] {"_f32", "_f64"}) {
      Matcher t = TYPED_DECL.matcher(typed);
      while (t.find()) {
        out.put(t.group(1) + suffix, params(t.group(1), t.group(2)));
      }
    }
    return Collections.unmodifiableMap(out);
  }

  private static List<Param> params(String kernel, String list) {
    List<Param> ps = new ArrayList<>();
    for (String raw : list.split(",")) {
      String p = raw.replaceAll("\\s+", " ").trim();
      if (p.contains("*")) {
        ps.add(Param.POINTER);
      } else if (p.startsWith("int ")) {
        ps.add(Param.INT);
      } else if (p.startsWith("double ")) {
        ps.add(Param.DOUBLE);
      } else if (p.startsWith("Dims ")) {
        ps.add(Param.DIMS);
      } else if (p.startsWith("FaHeads ")) {
        ps.add(Param.HEADS);
      } else {
        throw new IllegalStateException("kernel " + kernel + ": parameter '" + p
            + "' has a type the Java side cannot pack");
      }
    }
    return List.copyOf(ps);
  }

  /** The parameter names of one kernel, as its source declares them (for messages). */
  public static List<String> parameterNames(String kernel) {
    signature(kernel);
    String base = sourceName(kernel);
    boolean isPlain = base.equals(kernel);
    Matcher m = (isPlain ? PLAIN : TYPED_DECL).matcher(read(isPlain ? MAIN : TYPED));
    while (m.find()) {
      if (m.group(1).equals(base)) {
        List<String> names = new ArrayList<>();
        for (String raw : m.group(2).split(",")) {
          String[] words = raw.trim().split("[\\s*]+");
          names.add(words[words.length - 1]);
        }
        return List.copyOf(names);
      }
    }
    throw new IllegalStateException("kernel " + kernel + " not found again in its source");
  }

  /** A bundled CUDA source. */
  static String read(String name) {
    try (InputStream in = KernelSource.class.getResourceAsStream(name)) {
      if (in == null) {
        throw new IllegalStateException("the CUDA source " + name + " is missing from the jar");
      }
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
