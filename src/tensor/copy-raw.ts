import type { ElementTypeInfo, NumericArray } from './element-types';

/**
 * `count` elements of a numeric type read from little-endian packed bytes, copied into a new
 * buffer of their own (aligned for the typed array, and transferable to a worker). BOOL bytes
 * other than 0 read as 1. The caller has checked that `raw` holds exactly count × info.bytes
 * bytes; `raw` itself is not kept.
 */
export function copyRaw(raw: Uint8Array, info: ElementTypeInfo, count: number): NumericArray {
  const data = info.allocate(count);
  new Uint8Array(data.buffer).set(raw);
  if (info.type === 'bool') for (let i = 0; i < count; i++) if (data[i] !== 0) data[i] = 1;
  return data;
}
