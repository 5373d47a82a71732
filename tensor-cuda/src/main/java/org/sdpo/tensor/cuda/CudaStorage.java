package org.sdpo.tensor.cuda;

import org.sdpo.tensor.DType;
import org.sdpo.tensor.Storage;

/**
 * A tensor's device memory: a block, the offset of element 0 in elements, and a stride per axis
 * in elements (views share the block).
 */
final class CudaStorage implements Storage {
  final DevicePool.Block block;
  final long offset;
  final int[] strides;
  final DType dtype;

  CudaStorage(DevicePool.Block block, long offset, int[] strides, DType dtype) {
    this.block = block;
    this.offset = offset;
    this.strides = strides;
    this.dtype = dtype;
  }

  /** The device address of element 0. */
  long address() {
    return block.address + offset * dtype.bytes();
  }
}
