package org.sdpo.tensor;

/**
 * A backend that lives in another module (the CUDA backend in {@code tensor-cuda}), found with
 * {@link java.util.ServiceLoader} when {@code --device}, {@code -Dsdpo.device} or
 * {@code SDPO_DEVICE} names its device. The CPU backend needs no provider.
 */
public interface BackendProvider {

  /** The device name users select it by ({@code cuda}, ...). */
  String device();

  /**
   * Starts the backend. A device that cannot be used (no driver, no library, an unsupported GPU)
   * throws {@link DeviceUnavailableException} with one message that says what was tried.
   */
  Backend open();
}
