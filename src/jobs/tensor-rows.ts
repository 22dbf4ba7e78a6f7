import { elementType, type NumericArray } from '../tensor/element-types';
import type { HostTensor } from '../tensor/tensor-types';

type Constructor = { new (n: number): NumericArray };

/** Joining tensors along their first dimension, and taking one row back out. */
export const tensorRows = {
  /**
   * The tensors joined along the first dimension, in a new buffer. They must share their type
   * and every dimension past the first (the caller groups them so).
   */
  stack(tensors: readonly HostTensor[]): HostTensor {
    const first = tensors[0]!;
    const rows = tensors.reduce((n, t) => n + t.dims[0]!, 0);
    const dims = [rows, ...first.dims.slice(1)];
    if (first.type === 'string') return { type: first.type, dims, data: tensors.flatMap((t) => t.data as string[]) };
    const count = tensors.reduce((n, t) => n + t.data.length, 0);
    const data = new (first.data.constructor as Constructor)(count);
    let at = 0;
    for (const t of tensors) {
      (data as Uint8Array).set(t.data as Uint8Array, at);
      at += t.data.length;
    }
    return { type: first.type, dims, data };
  },

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
