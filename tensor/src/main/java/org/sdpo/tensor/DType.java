package org.sdpo.tensor;

/**
 * Element types of a {@link Tensor}. Training runs in {@link #FLOAT32}; gradient checks and audits
 * run in {@link #FLOAT64}. There is no global default: every factory takes a dtype.
 */
public enum DType {
  FLOAT32(4, "F32"),
  FLOAT64(8, "F64");

  private final int bytes;
  private final String safetensorsName;

  DType(int bytes, String safetensorsName) {
    this.bytes = bytes;
    this.safetensorsName = safetensorsName;
  }

  /** Size of one element in bytes. */
  public int bytes() {
    return bytes;
  }

  /** The dtype's name in the safetensors format ({@code F32}, {@code F64}). */
  public String safetensorsName() {
    return safetensorsName;
  }

  /** Parses {@code float32}/{@code f32}/{@code float}/{@code float64}/{@code f64}/{@code double}. */
  public static DType parse(String name) {
    switch (name.toLowerCase(java.util.Locale.ROOT)) {
      case "float32":
      case "f32":
      case "float":
        return FLOAT32;
      case "float64":
      case "f64":
      case "double":
        return FLOAT64;
      default:
        throw new IllegalArgumentException(
            "unknown dtype '" + name + "': expected float32 or float64");
    }
  }
}
