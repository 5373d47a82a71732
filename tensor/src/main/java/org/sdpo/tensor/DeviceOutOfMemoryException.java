package org.sdpo.tensor;

/**
 * A device (a GPU) has no memory left for an allocation, after its backend gave back what it
 * could. The message is one line: what was asked, what this process holds and the device's size;
 * the command line prints it without a stack trace, with what lowers the need.
 */
public class DeviceOutOfMemoryException extends BackendOutOfMemoryException {
  private static final long serialVersionUID = 1L;

  public DeviceOutOfMemoryException(String message) {
    super(message);
  }
}
