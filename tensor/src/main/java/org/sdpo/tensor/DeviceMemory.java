package org.sdpo.tensor;

/**
 * What a device backend's memory pool holds, in bytes: {@code inUse} by live tensors, scratch,
 * cached copies and recorded steps; {@code reserved} from the driver (in use, on free lists, or
 * not yet carved); the peaks of both since the backend opened (or since {@link
 * Backend#resetDeviceMemoryPeaks}); {@code total} the device's memory, 0 where unknown.
 */
public record DeviceMemory(long inUse, long reserved, long peakInUse, long peakReserved,
    long total) {
  /**
   * One line for a terminal: "device memory: peak 1.20 GB in use, 1.54 GB held from the driver
   * (of 141 GB)".
   */
  public String describe() {
    return "device memory: peak " + MemoryStats.describe(peakInUse) + " in use, "
        + MemoryStats.describe(peakReserved) + " held from the driver"
        + (total > 0 ? " (of " + MemoryStats.describe(total) + ")" : "");
  }
}
