import { oipDatatype } from './oip-datatypes';
import type { OipOutput } from './oip-tensor-types';
import type { HostTensor } from './tensor-types';

/** Bytes of the length that precedes each BYTES element in raw form. */
const LENGTH_PREFIX_BYTES = 4;

/**
 * Converts a runtime output to the protocol's raw form, the only form inferd answers in:
 * numeric elements little-endian and packed (a view over the tensor's own buffer, not a copy),
 * BYTES elements each as a 4-byte little-endian length followed by its UTF-8 bytes.
 */
export function encodeOipTensor(tensor: HostTensor): OipOutput {
  const datatype = oipDatatype(tensor.type).name;
  const shape = tensor.dims.map(BigInt);
  const data = tensor.data;
  if (!Array.isArray(data)) return { datatype, shape, raw: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
  const elements = data.map((s) => Buffer.from(s, 'utf8'));
  const raw = Buffer.alloc(elements.reduce((n, e) => n + LENGTH_PREFIX_BYTES + e.length, 0));
  let at = 0;
  for (const e of elements) {
    at = raw.writeUInt32LE(e.length, at);
    raw.set(e, at);
    at += e.length;
  }
  return { datatype, shape, raw };
}
