package org.sdpo.tensor;

/** The test-only backends, for checks in other modules (the GPU check compares against it). */
public final class TestBackends {
  private TestBackends() {}

  /** A new {@link ReferenceBackend}: every method in plain double loops over strided memory. */
  public static Backend reference() {
    return new ReferenceBackend();
  }
}
