import { elementType, type NumericArray } from '../../tensor/element-types';
import { stackTensors } from '../../scheduler/stack-feeds';
import type { HostTensor } from '../../tensor/tensor-types';

type Constructor = { new (n: number): NumericArray };

/** Joining tensors along their first dimension, and taking one row back out. */
export const tensorRows = {
  /** The tensors joined along the first dimension, in a new buffer (see stackTensors). */
  stack: stackTensors,

  /** Row `index` along the first dimension, without that dimension, as a copy. */
  slice(tensor: HostTensor, index: number): HostTensor {
    const dims = tensor.dims.slice(1);
    const size = dims.reduce((a, b) => a * b, 1);
    const data = tensor.data;
    if (Array.isArray(data)) return { type: tensor.type, dims, data: data.slice(index * size, (index + 1) * size) };
    const info = elementType(tensor.type);
    const copy = info.type === 'bool' ? new Uint8Array(size) : new (data.constructor as Constructor)(size);
    (copy as Uint8Array).set((data as Uint8Array).subarray(index * size, (index + 1) * size));
    return { type: tensor.type, dims, data: copy };
  },
};
