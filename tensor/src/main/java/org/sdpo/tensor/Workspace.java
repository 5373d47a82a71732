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
 * <p>The pool is bounded: a loop whose shapes keep changing (sampling prompts of many lengths,
 * validation batches of another size) would otherwise keep one set of buffers per shape forever.
 * When a closing scope leaves more than {@link #maxPooledBytes()} bytes in the pool, the buffers of
 * the shapes used least recently are released to the garbage collector until the pool fits; the
 * shapes used inside the closing scope stay, so a loop with fixed shapes never re-allocates, even
 * when one step needs more than the bound (property {@code sdpo.workspaceMaxBytes}, default 900
 * MiB: above the ~860 MB a step of the demo's update needs, so it re-allocates nothing; 1 GiB
 * let the full demo's pool grow ~100 MB further, bench/README.md).
 *
 * <p>A phase that needs more than the bound on its own (an update at a real vocabulary: gigabytes
 * of (N, V) tensors) raises it to its peak plus the bound while it keeps running (once in
 * {@value #STALE_ROUNDS} rounds): else every other phase's scope, closing over the bound, would
 * release its buffers and each step would allocate and page-fault them all again.
 *
 * <p>The bound also applies when a new buffer is needed: if the free buffers, the buffers in use
 * and the new one would exceed it, the free buffers of shapes that no outermost scope has used for
 * {@value #STALE_ROUNDS} rounds (a phase that has ended) are released first.
 *
 * <p>Code that runs one phase after another on a thread (sampling, then scoring, then the update)
 * shares that thread's {@link #ofThisThread() workspace}, so the pool holds the largest phase's
 * buffers rather than the sum of every phase's.
 *
 * <p>A workspace belongs to one thread at a time.
 */
public final class Workspace {
  private static final ThreadLocal<Scope> CURRENT = new ThreadLocal<>();

  private static final long MAX_POOLED = Long.getLong("sdpo.workspaceMaxBytes", 900L << 20);

  private static final ThreadLocal<Workspace> PER_THREAD = ThreadLocal.withInitial(Workspace::new);

  private final Map<Key, ArrayDeque<Storage>> free = new HashMap<>();
  /** The serial number of the scope that last took a buffer of each shape. */
  private final Map<Key, Long> lastUse = new HashMap<>();
  /** The number of the outermost scope that last took a buffer of each shape. */
  private final Map<Key, Long> lastRound = new HashMap<>();
  private long scopes;
  /** Outermost scopes opened so far (a training step opens a few: sampling, scoring, update). */
  private long rounds;
  /** Bytes of buffers taken by open scopes. */
  private long inUse;
  private long allocations;
  private long reuses;
  private long pooledBytes;
  private long evictions;
  private final long maxPooled;
  /** The most bytes in use during the current outermost scope. */
  private long roundPeak;
  /** A recent round's peak above the bound (0: none), and that round. */
  private long bigRound;
  private long bigRoundAt;

  /** The workspace shared by everything that runs on the calling thread. */
  public static Workspace ofThisThread() {
    return PER_THREAD.get();
  }

  /** A workspace bounded by {@code sdpo.workspaceMaxBytes} (default 900 MiB). */
  public Workspace() {
    this(MAX_POOLED);
  }

  /** A workspace that empties its pool when it holds more than {@code maxPooledBytes}. */
  public Workspace(long maxPooledBytes) {
    this.maxPooled = maxPooledBytes;
  }

  /**
   * A buffer's kind: the backend that made it (a process may switch backends, as tests and the
   * GPU check do: another backend's buffer must never be handed out), its dtype and shape.
   */
  private record Key(Backend backend, DType dtype, List<Integer> shape) {
    long bytes() {
      long n = dtype.bytes();
      for (int d : shape) {
        n *= d;
      }
      return n;
    }

    static Key of(Backend backend, DType dtype, int[] shape) {
      List<Integer> s = new ArrayList<>(shape.length);
      for (int d : shape) {
        s.add(d);
      }
      return new Key(backend, dtype, s);
    }
  }

  /** Opens a scope on the current thread; scopes nest (the innermost one receives tensors). */
  public Scope enter() {
    if (CURRENT.get() == null) {
      rounds++;
      roundPeak = inUse;
    }
    Scope s = new Scope(this, CURRENT.get(), ++scopes);
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

  /** Buffers released because the pool held more than {@link #maxPooledBytes()}. */
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

  /**
   * A new scope nested in the calling thread's innermost open one (on that scope's workspace), or
   * null when no scope is open. Tensors created inside it go back to the pool when it closes,
   * while the enclosing scope's stay: a phase can release its intermediate buffers early.
   */
  public static Scope nested() {
    Scope c = CURRENT.get();
    return c == null ? null : c.owner.enter();
  }

  /**
   * Releases every free buffer of the pool (buffers in use stay) and asks for a collection so that
   * their native memory goes back at once: for the end of a phase whose shapes will not come back
   * (pre-training before RL, one arm of an experiment before the next).
   */
  public void releaseFree() {
    long released = pooledBytes;
    evictions += free.values().stream().mapToLong(ArrayDeque::size).sum();
    free.clear();
    lastUse.clear();
    lastRound.clear();
    pooledBytes = 0;
    if (released > 0) {
      System.gc(); // the released buffers' native memory is freed when their owners are collected
    }
  }

  /** Whether the calling thread has an open scope (tensors it creates are pooled). */
  public static boolean inScope() {
    return CURRENT.get() != null;
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

  /**
   * Releases the free buffers of the shapes used longest ago until the pool fits its bound,
   * keeping the shapes used by the scope {@code keepFrom} or any scope opened after it. Released
   * buffers become unreachable and the collector frees their native memory; after a large release
   * a collection is requested at once.
   */
  private void evictLeastRecentlyUsed(long keepFrom) {
    long bound = bound();
    release(lastUse, used -> pooledBytes > bound && used < keepFrom);
  }

  /**
   * The bound in force: {@link #maxPooledBytes()}, or, while a phase that needs more than that
   * (an update at a large vocabulary: gigabytes of (N, V) tensors) has run within the last
   * {@link #STALE_ROUNDS} rounds, that phase's peak plus {@link #maxPooledBytes()} for the others.
   * Otherwise the other phases' scopes, closing with the pool over the bound, would release the
   * large phase's buffers, and it would allocate (and page-fault) all of them again every step.
   * Phases within the bound (the demo's) see the bound unchanged.
   */
  private long bound() {
    return bigRound > maxPooled && rounds - bigRoundAt <= STALE_ROUNDS ? bigRound + maxPooled
        : maxPooled;
  }

  /** At the end of an outermost scope: remembers its peak if it went over the bound. */
  private void endRound() {
    if (roundPeak > maxPooled && (roundPeak >= bigRound || rounds - bigRoundAt > STALE_ROUNDS)) {
      bigRound = roundPeak;
      bigRoundAt = rounds;
    }
  }

  /**
   * Before a new buffer is allocated: when free buffers, buffers in use and the new one together
   * exceed the bound, releases the free buffers of shapes no outermost scope has used for
   * {@link #STALE_ROUNDS} rounds (a phase that has ended: pre-training before RL, a measurement
   * before training), oldest first, and asks for a collection so that their memory goes back at
   * once rather than at the next one.
   */
  private void releaseStale(long need) {
    long bound = bound();
    if (pooledBytes == 0 || pooledBytes + inUse + need <= bound) {
      return;
    }
    release(lastRound, round -> pooledBytes + inUse + need > bound
        && round <= rounds - STALE_ROUNDS);
  }

  /**
   * Releases the free buffers of shapes in order of {@code lastSeen} (oldest first; among shapes
   * last seen together, the largest first, then by dtype and shape, so the order never depends on
   * hash codes) while {@code more} holds for the next shape's value; a large release asks for a
   * collection.
   */
  private void release(Map<Key, Long> lastSeen, java.util.function.LongPredicate more) {
    List<Map.Entry<Key, Long>> order = new ArrayList<>(lastSeen.entrySet());
    order.sort(Map.Entry.<Key, Long>comparingByValue()
        .thenComparing(e -> -e.getKey().bytes())
        .thenComparing(e -> e.getKey().dtype())
        .thenComparing(e -> e.getKey().shape().toString()));
    long released = 0;
    for (Map.Entry<Key, Long> e : order) {
      if (!more.test(e.getValue())) {
        break;
      }
      ArrayDeque<Storage> q = free.remove(e.getKey());
      lastUse.remove(e.getKey());
      lastRound.remove(e.getKey());
      if (q != null) {
        released += e.getKey().bytes() * q.size();
        pooledBytes -= e.getKey().bytes() * q.size();
        evictions += q.size();
      }
    }
    if (released >= RELEASE_COLLECT_BYTES) {
      System.gc(); // the released buffers' native memory is freed when their owners are collected
    }
  }

  /** Outermost scopes after which an unused shape counts as belonging to an ended phase. */
  static final int STALE_ROUNDS = 64;

  private static final long RELEASE_COLLECT_BYTES = 64L << 20;

  /** One step's worth of pooled tensors. */
  public static final class Scope implements AutoCloseable {
    private final Workspace owner;
    private final Scope parent;
    private final List<Key> keys = new ArrayList<>();
    private final List<Storage> taken = new ArrayList<>();
    private final long serial;
    private boolean closed;

    private Scope(Workspace owner, Scope parent, long serial) {
      this.owner = owner;
      this.parent = parent;
      this.serial = serial;
    }

    Storage take(Backend backend, DType dtype, int[] shape) {
      if (closed) {
        throw new IllegalStateException("workspace scope is closed");
      }
      Key key = Key.of(backend, dtype, shape);
      ArrayDeque<Storage> q = owner.free.get(key);
      Storage s;
      if (q != null && !q.isEmpty()) {
        s = q.pop();
        owner.reuses++;
        owner.pooledBytes -= key.bytes();
      } else {
        owner.releaseStale(key.bytes());
        s = backend.allocate(dtype, shape);
        owner.allocations++;
      }
      keys.add(key);
      taken.add(s);
      owner.inUse += key.bytes();
      owner.roundPeak = Math.max(owner.roundPeak, owner.inUse);
      owner.lastUse.put(key, owner.scopes);
      owner.lastRound.put(key, owner.rounds);
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
        owner.inUse -= keys.get(i).bytes();
        owner.free.computeIfAbsent(keys.get(i), k -> new ArrayDeque<>()).push(taken.get(i));
        owner.pooledBytes += keys.get(i).bytes();
        // a release while this buffer was out may have dropped its shape's record: every free
        // buffer's shape must stay on record, or no release could ever find it
        owner.lastUse.putIfAbsent(keys.get(i), serial);
        owner.lastRound.putIfAbsent(keys.get(i), owner.rounds);
      }
      taken.clear();
      keys.clear();
      if (parent == null) {
        owner.endRound();
      }
      if (owner.pooledBytes > owner.bound()) {
        owner.evictLeastRecentlyUsed(serial);
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
