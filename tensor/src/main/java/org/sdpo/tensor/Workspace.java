package org.sdpo.tensor;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/**
 * A pool of tensor memory reused from one training step to the next.
 *
 * <p>Creating any native array costs about 9 µs on ND4J, plus page faults on first touch, so a
 * steady-state training step should allocate nothing new. A training loop opens one scope per
 * step:
 *
 * <pre>{@code
 * Workspace ws = new Workspace();
 * for (int step = 0; step < steps; step++) {
 *   try (Workspace.Scope s = ws.enter()) {
 *     ... forward, backward, optimizer update ...
 *   }   // every tensor created inside returns to the pool here
 * }
 * }</pre>
 *
 * Each tensor created inside a scope takes a buffer of its dtype and shape from the pool (or
 * allocates one the first time); when the scope closes, those buffers go back, and the next step,
 * which asks for the same shapes in the same order, gets them again without a native allocation.
 * A tensor that outlives its scope is invalid: touching it throws {@link IllegalStateException},
 * so a reused buffer can never be read by mistake. Parameters, gradients of parameters and
 * optimizer state are created outside any scope, or inside {@link #persistent(Supplier)}.
 *
 * <p>The pool is bounded: a loop whose shapes keep changing (sampling prompts of many lengths)
 * would otherwise keep one set of buffers per shape forever. When a closing scope leaves more than
 * {@link #maxPooledBytes()} bytes in the pool, the pool is emptied and its buffers are left to the
 * garbage collector; a loop with fixed shapes stays under the bound and never re-allocates
 * (property {@code sdpo.workspaceMaxBytes}, default 2 GiB).
 *
 * <p>A workspace belongs to one thread at a time.
 */
public final class Workspace {
  private static final ThreadLocal<Scope> CURRENT = new ThreadLocal<>();

  private static final long MAX_POOLED = Long.getLong("sdpo.workspaceMaxBytes", 2L << 30);

  private final Map<Key, ArrayDeque<Storage>> free = new HashMap<>();
  private long allocations;
  private long reuses;
  private long pooledBytes;
  private long evictions;
  private final long maxPooled;

  /** A workspace bounded by {@code sdpo.workspaceMaxBytes} (default 2 GiB). */
  public Workspace() {
    this(MAX_POOLED);
  }

  /** A workspace that empties its pool when it holds more than {@code maxPooledBytes}. */
  public Workspace(long maxPooledBytes) {
    this.maxPooled = maxPooledBytes;
  }

  private record Key(DType dtype, List<Integer> shape) {
    long bytes() {
      long n = dtype.bytes();
      for (int d : shape) {
        n *= d;
      }
      return n;
    }

    static Key of(DType dtype, int[] shape) {
      List<Integer> s = new ArrayList<>(shape.length);
      for (int d : shape) {
        s.add(d);
      }
      return new Key(dtype, s);
    }
  }

  /** Opens a scope on the current thread; scopes nest (the innermost one receives tensors). */
  public Scope enter() {
    Scope s = new Scope(this, CURRENT.get());
    CURRENT.set(s);
    return s;
  }

  /** Native buffers this workspace allocated because none of the right shape was free. */
  public long allocations() {
    return allocations;
  }

  /** Buffers handed out again from the pool. */
  public long reuses() {
    return reuses;
  }

  /** Times the pool was emptied because it held more than {@link #maxPooledBytes()}. */
  public long evictions() {
    return evictions;
  }

  /** Bytes of free buffers currently pooled. */
  public long pooledBytes() {
    return pooledBytes;
  }

  /** The bound on pooled bytes. */
  public long maxPooledBytes() {
    return maxPooled;
  }

  /** The innermost open scope of this thread, or null. */
  static Scope current() {
    return CURRENT.get();
  }

  /** Runs {@code body} with no scope active: tensors it creates are ordinary, long-lived ones. */
  public static <T> T persistent(Supplier<T> body) {
    Scope saved = CURRENT.get();
    CURRENT.remove();
    try {
      return body.get();
    } finally {
      if (saved != null) {
        CURRENT.set(saved);
      }
    }
  }

  /** One step's worth of pooled tensors. */
  public static final class Scope implements AutoCloseable {
    private final Workspace owner;
    private final Scope parent;
    private final List<Key> keys = new ArrayList<>();
    private final List<Storage> taken = new ArrayList<>();
    private boolean closed;

    private Scope(Workspace owner, Scope parent) {
      this.owner = owner;
      this.parent = parent;
    }

    Storage take(Backend backend, DType dtype, int[] shape) {
      if (closed) {
        throw new IllegalStateException("workspace scope is closed");
      }
      Key key = Key.of(dtype, shape);
      ArrayDeque<Storage> q = owner.free.get(key);
      Storage s;
      if (q != null && !q.isEmpty()) {
        s = q.pop();
        owner.reuses++;
        owner.pooledBytes -= key.bytes();
      } else {
        s = backend.allocate(dtype, shape);
        owner.allocations++;
      }
      keys.add(key);
      taken.add(s);
      return s;
    }

    boolean isClosed() {
      return closed;
    }

    /** Returns every buffer taken in this scope to the pool; tensors of this scope die. */
    @Override
    public void close() {
      if (closed) {
        return;
      }
      closed = true;
      for (int i = 0; i < taken.size(); i++) {
        owner.free.computeIfAbsent(keys.get(i), k -> new ArrayDeque<>()).push(taken.get(i));
        owner.pooledBytes += keys.get(i).bytes();
      }
      taken.clear();
      keys.clear();
      if (owner.pooledBytes > owner.maxPooled) {
        owner.free.clear(); // unreachable now: the collector frees their native memory
        owner.pooledBytes = 0;
        owner.evictions++;
      }
      if (CURRENT.get() == this) {
        if (parent != null) {
          CURRENT.set(parent);
        } else {
          CURRENT.remove();
        }
      }
    }
  }
}
