package org.sdpo.transformer.sample;

import java.util.Map;
import java.util.WeakHashMap;
import org.sdpo.tensor.Backend;
import org.sdpo.tensor.Backends;
import org.sdpo.tensor.CapturedStep;
import org.sdpo.tensor.Tensor;
import org.sdpo.tensor.Workspace;
import org.sdpo.transformer.CausalLm;
import org.sdpo.transformer.nn.KvCache;

/**
 * What a model's recorded decode step reads and writes, kept from one sampling call to the next
 * of the same batch size and cache capacity: the KV cache, the logits of the last position, the
 * two id arrays and the recording itself. A call with those shapes prefills the kept cache and
 * replays at once, instead of recording a graph again (recording and instantiating one costs
 * about what a few decode steps cost, and a training step samples short answers many times).
 * One per model; it holds no reference to the model, so it goes when the model goes. The
 * recording reads the parameters where they are: training updates them in place (a Variable's
 * value never changes tensor), so later calls sample from the updated model.
 */
final class RecordedDecode {
  private static final Map<CausalLm, RecordedDecode> KEPT = new WeakHashMap<>();

  final int batch;
  final int capacity;
  final Backend backend;
  final KvCache cache; // persistent, as the recording writes it on every replay
  final Tensor all; // (B, V): the logits the recording writes, read by the sampling kernel
  final int[] next; // the ids and position ids the recording copies in before each replay
  final int[] nextPos;
  CapturedStep step; // null until the first decode step of the first call records it
  boolean failed; // recording failed once: this model decodes kernel by kernel
  private boolean inUse;

  private RecordedDecode(CausalLm model, int batch, int capacity) {
    this.batch = batch;
    this.capacity = capacity;
    this.backend = Backends.current();
    this.cache = Workspace.persistent(() -> model.newCache(batch, capacity));
    this.all = Workspace.persistent(() -> Tensor.empty(model.dtype(), batch,
        model.config().vocabSize()));
    this.next = new int[batch];
    this.nextPos = new int[batch];
  }

  /**
   * The kept state for (model, batch, capacity) on the current backend, emptied for a new call, or
   * null when another call on this model is using it (that call then decodes without it). State
   * of other shapes is closed and replaced.
   */
  static synchronized RecordedDecode take(CausalLm model, int batch, int capacity) {
    RecordedDecode r = KEPT.get(model);
    if (r != null && r.inUse) {
      return null;
    }
    if (r != null && (r.batch != batch || r.capacity != capacity
        || r.backend != Backends.current())) {
      boolean failed = r.failed;
      r.close();
      r = null;
      if (failed) { // remembered across shapes: recording this model does not work here
        r = new RecordedDecode(model, batch, capacity);
        r.failed = true;
      }
    }
    if (r == null) {
      r = new RecordedDecode(model, batch, capacity);
    }
    KEPT.put(model, r);
    r.inUse = true;
    r.cache.truncate(0);
    return r;
  }

  /** The call is over; the next call of these shapes may take the state. */
  void release() {
    synchronized (RecordedDecode.class) {
      inUse = false;
    }
  }

  private void close() {
    if (step != null) {
      step.close();
    }
    step = null;
  }
}
