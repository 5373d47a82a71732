package org.sdpo.tensor;

/**
 * The device asked for cannot be used: no backend of that name, or its driver, libraries or
 * kernels are missing, or the GPU is not supported. The message is one line that says what was
 * tried; the command line prints it without a stack trace.
 */
public class DeviceUnavailableException extends IllegalStateException {
  private static final long serialVersionUID = 1L;

  public DeviceUnavailableException(String message) {
    super(message);
  }
}
