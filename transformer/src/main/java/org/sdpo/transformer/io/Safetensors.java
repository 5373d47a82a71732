package org.sdpo.transformer.io;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.sdpo.tensor.DType;
import org.sdpo.tensor.Tensor;

/**
 * The safetensors format: an 8-byte little-endian header length N, an N-byte JSON header mapping
 * each tensor name to {@code {"dtype", "shape", "data_offsets": [begin, end]}} (offsets relative to
 * the data section; an optional {@code __metadata__} of strings), then the row-major little-endian
 * data, tensors tiling the data section without gaps or overlaps.
 *
 * <p>Reading accepts F64, F32, F16 and BF16 and converts to the requested dtype; every
 * inconsistency (truncated file, header longer than the file, offsets out of range, overlapping,
 * or not matching the shape, unknown dtype) is an {@link IOException} naming the file and the
 * tensor. Writing is atomic: a temporary file in the same directory, renamed into place.
 */
public final class Safetensors {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final long MAX_HEADER = 100L << 20;

  private Safetensors() {}

  /** A tensor's entry in the header. */
  public record Entry(String name, String dtype, int[] shape, long begin, long end) {}

  /** Reads every tensor (except those {@code skip} accepts), converted to {@code target}. */
  public static Map<String, Tensor> read(Path file, DType target,
      java.util.function.Predicate<String> skip) throws IOException {
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
      long size = ch.size();
      List<Entry> entries = header(file, ch, size);
      long dataStart = 8 + headerLength(file, ch, size);
      Map<String, Tensor> out = new LinkedHashMap<>();
      for (Entry e : entries) {
        if (skip.test(e.name())) {
          continue;
        }
        out.put(e.name(), readTensor(file, ch, dataStart, e, target));
      }
      return out;
    }
  }

  private static final int CHUNK = 1 << 22; // bytes read at a time: 4 MiB

  /**
   * One tensor, decoded straight into a tensor of the target dtype a chunk at a time, so loading
   * a 1-billion-parameter checkpoint needs no Java array the size of its embedding.
   */
  private static Tensor readTensor(Path file, FileChannel ch, long dataStart, Entry e,
      DType target) throws IOException {
    int width = width(e.dtype());
    long n = (e.end() - e.begin()) / width;
    if (n > Integer.MAX_VALUE) {
      throw new IOException(file + ": tensor '" + e.name() + "' has more than 2^31 elements");
    }
    if (n == 0) {
      throw new IllegalArgumentException(file + ": tensor '" + e.name() + "' is empty");
    }
    Tensor t = Tensor.empty(target, e.shape().length == 0 ? new int[0] : e.shape());
    double[] chunk = new double[(int) Math.min(CHUNK / width, n)];
    ByteBuffer buf = ByteBuffer.allocate((int) Math.min(CHUNK, n * width))
        .order(ByteOrder.LITTLE_ENDIAN);
    long at = dataStart + e.begin();
    int i = 0;
    while (i < n) {
      buf.clear();
      buf.limit((int) Math.min(buf.capacity(), (n - i) * width));
      while (buf.hasRemaining()) {
        if (ch.read(buf, at + buf.position()) < 0) {
          throw new IOException(file + ": truncated while reading tensor '" + e.name() + "'");
        }
      }
      at += buf.limit();
      buf.flip();
      int k = 0;
      while (buf.remaining() >= width) {
        chunk[k++] = decode(e.dtype(), buf);
      }
      t.write(i, chunk, k);
      i += k;
    }
    return t;
  }

  /** One element of a safetensors dtype as a double. */
  private static double decode(String dtype, ByteBuffer buf) {
    switch (dtype) {
      case "F64":
        return buf.getDouble();
      case "F32":
        return buf.getFloat();
      case "F16":
        return Float.intBitsToFloat(halfToFloatBits(buf.getShort()));
      default: // BF16: the top 16 bits of a float32
        return Float.intBitsToFloat((buf.getShort() & 0xffff) << 16);
    }
  }

  /** The header's tensor entries, validated against the file size. */
  public static List<Entry> header(Path file) throws IOException {
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
      return header(file, ch, ch.size());
    }
  }

  private static long headerLength(Path file, FileChannel ch, long size) throws IOException {
    if (size < 8) {
      throw new IOException(file + ": truncated safetensors file (" + size
          + " bytes, less than the 8-byte header length)");
    }
    ByteBuffer b = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
    ch.read(b, 0);
    long n = b.getLong(0);
    if (n <= 0 || n > MAX_HEADER || n > size - 8) {
      throw new IOException(file + ": header length " + n + " is invalid for a file of " + size
          + " bytes");
    }
    return n;
  }

  /** The header's {@code __metadata__} strings (empty if there are none). */
  public static Map<String, String> metadata(Path file) throws IOException {
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
      JsonNode m = headerJson(file, ch, ch.size()).path("__metadata__");
      Map<String, String> out = new LinkedHashMap<>();
      for (Map.Entry<String, JsonNode> e : m.properties()) {
        out.put(e.getKey(), e.getValue().asText());
      }
      return out;
    }
  }

  private static JsonNode headerJson(Path file, FileChannel ch, long size) throws IOException {
    long n = headerLength(file, ch, size);
    ByteBuffer hb = ByteBuffer.allocate((int) n);
    ch.read(hb, 8);
    JsonNode root;
    try {
      root = JSON.readTree(new String(hb.array(), StandardCharsets.UTF_8).strip());
    } catch (IOException e) {
      throw new IOException(file + ": header is not valid JSON: " + e.getMessage(), e);
    }
    if (root == null || !root.isObject()) {
      throw new IOException(file + ": header is not a JSON object");
    }
    return root;
  }

  private static List<Entry> header(Path file, FileChannel ch, long size) throws IOException {
    long n = headerLength(file, ch, size);
    JsonNode root = headerJson(file, ch, size);
    long dataSize = size - 8 - n;
    List<Entry> entries = new ArrayList<>();
    for (Map.Entry<String, JsonNode> f : root.properties()) {
      if (f.getKey().equals("__metadata__")) {
        continue;
      }
      entries.add(entry(file, f.getKey(), f.getValue(), dataSize));
    }
    List<Entry> sorted = new ArrayList<>(entries);
    sorted.sort((a, b) -> Long.compare(a.begin(), b.begin()));
    long at = 0;
    for (Entry e : sorted) {
      if (e.begin() != at) {
        throw new IOException(file + ": tensor '" + e.name() + "' starts at byte " + e.begin()
            + " of the data section, expected " + at + " (tensors overlap or leave a gap)");
      }
      at = e.end();
    }
    if (at != dataSize) {
      throw new IOException(file + ": the tensors cover " + at + " bytes but the data section has "
          + dataSize + " (truncated or padded file)");
    }
    return entries;
  }

  private static Entry entry(Path file, String name, JsonNode v, long dataSize) throws IOException {
    String where = file + ": tensor '" + name + "'";
    if (!v.isObject() || !v.has("dtype") || !v.has("shape") || !v.has("data_offsets")) {
      throw new IOException(where + " needs dtype, shape and data_offsets");
    }
    String dtype = v.get("dtype").asText();
    int width = width(dtype);
    if (width < 0) {
      throw new IOException(where + " has dtype " + dtype + "; only F64, F32, F16 and BF16 are read");
    }
    JsonNode s = v.get("shape");
    int[] shape = new int[s.size()];
    long numel = 1;
    for (int i = 0; i < shape.length; i++) {
      if (!s.get(i).canConvertToInt() || s.get(i).asInt() < 0) {
        throw new IOException(where + " has a bad shape " + s);
      }
      shape[i] = s.get(i).asInt();
      numel *= shape[i];
    }
    JsonNode o = v.get("data_offsets");
    if (o.size() != 2 || !o.get(0).canConvertToLong() || !o.get(1).canConvertToLong()) {
      throw new IOException(where + " has bad data_offsets " + o);
    }
    long b = o.get(0).asLong();
    long e = o.get(1).asLong();
    if (b < 0 || e < b || e > dataSize) {
      throw new IOException(where + ": data_offsets [" + b + ", " + e
          + "] fall outside the data section of " + dataSize + " bytes");
    }
    if (e - b != numel * width) {
      throw new IOException(where + ": " + (e - b) + " bytes for shape " + s + " of " + dtype
          + ", expected " + numel * width);
    }
    return new Entry(name, dtype, shape, b, e);
  }

  private static int width(String dtype) {
    switch (dtype) {
      case "F64":
        return 8;
      case "F32":
        return 4;
      case "F16":
      case "BF16":
        return 2;
      default:
        return -1;
    }
  }

  /** IEEE 754 half precision to single precision bits (subnormals, infinities, NaN included). */
  static int halfToFloatBits(short h) {
    int sign = (h & 0x8000) << 16;
    int exp = (h >>> 10) & 0x1f;
    int mant = h & 0x3ff;
    if (exp == 0) {
      if (mant == 0) {
        return sign;
      }
      while ((mant & 0x400) == 0) { // subnormal: normalise
        mant <<= 1;
        exp--;
      }
      exp++;
      mant &= 0x3ff;
    } else if (exp == 31) {
      return sign | 0x7f800000 | (mant << 13);
    }
    return sign | ((exp + 112) << 23) | (mant << 13);
  }

  /**
   * Writes tensors (in their own dtype, F32 or F64) and string metadata, atomically: a temporary
   * file in the same directory is renamed over {@code file} only once it is complete.
   */
  public static void write(Path file, Map<String, Tensor> tensors, Map<String, String> metadata)
      throws IOException {
    ObjectNode header = JSON.createObjectNode();
    if (metadata != null && !metadata.isEmpty()) {
      ObjectNode m = header.putObject("__metadata__");
      metadata.forEach(m::put);
    }
    long at = 0;
    for (Map.Entry<String, Tensor> e : tensors.entrySet()) {
      Tensor t = e.getValue();
      ObjectNode n = header.putObject(e.getKey());
      n.put("dtype", t.dtype().safetensorsName());
      var shape = n.putArray("shape");
      for (int d : t.shape()) {
        shape.add(d);
      }
      long bytes = t.numel() * t.dtype().bytes();
      n.putArray("data_offsets").add(at).add(at + bytes);
      at += bytes;
    }
    byte[] h = JSON.writeValueAsBytes(header);
    int padded = (h.length + 7) / 8 * 8; // pad the header with spaces to 8-byte alignment
    AtomicFiles.write(file, tmp -> {
      try (OutputStream os = new java.io.BufferedOutputStream(Files.newOutputStream(tmp), 1 << 16)) {
        ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(padded);
        os.write(len.array());
        os.write(h);
        for (int i = h.length; i < padded; i++) {
          os.write(' ');
        }
        ByteBuffer b = ByteBuffer.allocate(CHUNK).order(ByteOrder.LITTLE_ENDIAN);
        for (Tensor t : tensors.values()) {
          Tensor data = t.contiguous(); // read and written a chunk at a time
          boolean f32 = t.dtype() == DType.FLOAT32;
          double[] chunk = new double[(int) Math.min(CHUNK / 8, Math.max(1L, data.numel()))];
          for (int i = 0; i < data.numel(); i++) {
            int k = i % chunk.length;
            if (k == 0) {
              data.read(i, chunk, (int) Math.min(chunk.length, data.numel() - i));
            }
            if (b.remaining() < 8) {
              os.write(b.array(), 0, b.position());
              b.clear();
            }
            if (f32) {
              b.putFloat((float) chunk[k]);
            } else {
              b.putDouble(chunk[k]);
            }
          }
        }
        os.write(b.array(), 0, b.position());
      }
    });
  }
}
