package org.sdpo.tensor;

/**
 * The host has no memory left for a tensor's buffer: the system refused the allocation even
 * after a collection freed the buffers of unreachable tensors. The message is one line: the
 * tensor's dtype, shape and size, what this process holds and what the machine has.
 */
public class HostOutOfMemoryException extends BackendOutOfMemoryException {
  private static final long serialVersionUID = 1L;

  public HostOutOfMemoryException(String message) {
    super(message);
  }
}
