package org.sdpo.tensor.cuda;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import org.sdpo.tensor.DType;

/**
 * The device tables of the kernels over many tensors ({@code adamw_many},
 * {@code sum_squares_many}, {@code clip_scale_many} in {@code sdpo_kernels_typed.cuh}), so that a
 * model's update or its gradients' clipping is one launch instead of one per tensor.
 *
 * <p>A table is 64-bit words: a row of {@link #ROW} per tensor (up to four device addresses, the
 * element count, one double's bits), then a row of two per block (the tensor's index, the first
 * element of the block's chunk of {@link #CHUNK}); empty tensors get no block. A table is built
 * and copied to the device the first time a list of tensors is seen, and kept while that list is
 * (the same addresses and sizes: a model's parameters, moments and gradients stay where they
 * are), up to {@link #KEPT} lists, least recently used out first. A copy to the device cannot be
 * recorded into a graph, so a list first seen while a step is recorded has no table
 * ({@link #find} answers null) and its caller launches once per tensor instead.
 */
final class TensorTables {
  /** 64-bit words per tensor row (MANY_ROW in the kernels). */
  static final int ROW = 6;
  /** Elements per block (MANY_CHUNK in the kernels). */
  static final int CHUNK = 4096;
  /** Lists whose tables are kept. */
  static final int KEPT = 16;

  /** A table on the device: its storage (kept reachable by whoever launches with it). */
  record Table(CudaStorage storage, int tensors, int blocks) {
    long address() {
      return storage.address();
    }
  }

  private final DevicePool pool;
  private final CudaDriver dev;
  private final Map<Key, Table> kept = new LinkedHashMap<>(KEPT, 0.75f, true) {
    @Override
    protected boolean removeEldestEntry(Map.Entry<Key, Table> eldest) {
      return size() > KEPT; // dropped: its block goes back once nothing holds it
    }
  };

  TensorTables(CudaDriver dev, DevicePool pool) {
    this.dev = dev;
    this.pool = pool;
  }

  /** A tensor row's contents, as the key of a list of them. */
  private record Key(long[] words) {
    @Override
    public boolean equals(Object o) {
      return o instanceof Key k && Arrays.equals(words, k.words);
    }

    @Override
    public int hashCode() {
      return Arrays.hashCode(words);
    }
  }

  /**
   * The table of tensors whose row i holds {@code addresses[i]} (up to four), {@code counts[i]}
   * elements and {@code extra[i]} (or 0); null if it is not on the device yet and cannot be
   * copied there now ({@code canCopy} false: a step is being recorded), or if every tensor is
   * empty.
   */
  Table find(long[][] addresses, long[] counts, double[] extra, boolean canCopy) {
    int tensors = counts.length;
    long[] words = new long[tensors * ROW];
    long blocks = 0;
    for (int t = 0; t < tensors; t++) {
      System.arraycopy(addresses[t], 0, words, t * ROW, addresses[t].length);
      words[t * ROW + 4] = counts[t];
      words[t * ROW + 5] = Double.doubleToRawLongBits(extra == null ? 0 : extra[t]);
      blocks += (counts[t] + CHUNK - 1) / CHUNK;
    }
    if (blocks == 0 || blocks > Integer.MAX_VALUE / 2) {
      return null;
    }
    Key key = new Key(words);
    Table table = kept.get(key);
    if (table != null || !canCopy) {
      return table;
    }
    int n = tensors * ROW + 2 * (int) blocks;
    ByteBuffer b = ByteBuffer.allocateDirect(8 * n).order(ByteOrder.LITTLE_ENDIAN);
    for (long w : words) {
      b.putLong(w);
    }
    for (int t = 0; t < tensors; t++) {
      for (long start = 0; start < counts[t]; start += CHUNK) {
        b.putLong(t);
        b.putLong(start);
      }
    }
    b.flip();
    // a block of the pool, given back by its cleaner once neither this map nor a recorded step
    // (which keeps the storages it launched with) holds it
    CudaStorage storage = new CudaStorage(pool.take(8L * n), 0, new int[] {1},
        DType.FLOAT64);
    dev.toDevice(storage.address(), b);
    table = new Table(storage, tensors, (int) blocks);
    kept.put(key, table);
    return table;
  }
}
