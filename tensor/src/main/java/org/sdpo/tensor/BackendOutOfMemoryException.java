package org.sdpo.tensor;

/**
 * A backend could not allocate a tensor's memory, after giving back what it could: the host's
 * ({@link HostOutOfMemoryException}) or a device's ({@link DeviceOutOfMemoryException}). The
 * message is one line that says what was asked and how memory is held; the command line prints
 * it without a stack trace, with what lowers the need.
 */
public abstract class BackendOutOfMemoryException extends IllegalStateException {
  private static final long serialVersionUID = 1L;

  protected BackendOutOfMemoryException(String message) {
    super(message);
  }
}
