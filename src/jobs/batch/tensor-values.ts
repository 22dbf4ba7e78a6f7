import { fromFloat16Bits, toFloat16Bits } from '../../tensor/float16';
import type { HostTensor } from '../../tensor/tensor-types';

/** One element as written out: floats as the shortest decimal that reads back to the same value. */
export type Leaf = number | bigint | boolean | string;

/** The shortest decimal of `x` that `exact` accepts (tries 1 to `digits` significant digits). */
function shortest(x: number, digits: number, exact: (y: number) => boolean): number {
  if (!Number.isFinite(x) || x === 0) return x;
  for (let p = 1; p < digits; p++) {
    const y = Number(x.toPrecision(p));
    if (exact(y)) return y;
  }
  return x;
}

function leafText(v: Leaf, nonFinite: 'null' | 'name'): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' && !Number.isFinite(v)) return nonFinite === 'null' ? 'null' : String(v);
  return String(v);
}

/** A tensor's elements as they are written to batch outputs (JSON Lines, CSV, SQLite). */
export const tensorValues = {
  /** The elements in row-major order. FLOAT32 and FLOAT16 values are given as their shortest exact decimal (0.1 rather than 0.10000000149011612). */
  leaves(tensor: HostTensor): Leaf[] {
    const data = tensor.data;
    switch (tensor.type) {
      case 'float32':
        return Array.from(data as Float32Array, (x) => shortest(x, 9, (y) => Math.fround(y) === x));
      case 'float16':
        return Array.from(data as Uint16Array, (bits) => {
          const x = fromFloat16Bits(bits);
          return shortest(x, 5, (y) => toFloat16Bits(y) === bits);
        });
      case 'bool':
        return Array.from(data as Uint8Array, (b) => b !== 0);
      case 'string':
        return [...(data as string[])];
      case 'int64':
      case 'uint64':
        return Array.from(data as BigInt64Array);
      default:
        return Array.from(data as Float64Array);
    }
  },

  /** The tensor as JSON text: nested arrays of its shape (a scalar is a bare value); 64-bit integers exactly, NaN and infinities as null. */
  json(tensor: HostTensor): string {
    const leaves = tensorValues.leaves(tensor);
    const dims = tensor.dims;
    let at = 0;
    const build = (depth: number): string => {
      if (depth === dims.length) return leafText(leaves[at++]!, 'null');
      const parts: string[] = [];
      for (let i = 0; i < dims[depth]!; i++) parts.push(build(depth + 1));
      return `[${parts.join(',')}]`;
    };
    return build(0);
  },

  /** One element as CSV text: numbers as in JSON, NaN and infinities by name, strings bare (the writer quotes). */
  cell(leaf: Leaf): string {
    return typeof leaf === 'string' ? leaf : leafText(leaf, 'name');
  },
};
