import { InferdError } from '../../inferd-error';
import type { ElementTypeInfo, TensorData } from '../../tensor/element-types';
import type { OipDatatype } from '../../tensor/oip-codec';
import { copyRaw, stringElement } from '../../tensor/tensor-types';

/** Bytes of the length that precedes each BYTES element. */
const LENGTH_PREFIX_BYTES = 4;

/**
 * The elements of a tensor sent in binary (the binary tensor data extension), in a new buffer
 * of their own: numeric ones little-endian and packed (BOOL one byte each, FP16 the raw half
 * bits), BYTES ones each a 4-byte little-endian length and then its bytes. `bytes` is not kept.
 *
 * Throws INVALID_ARGUMENT naming `what` when the byte length does not fit `count` elements of
 * the datatype, or a BYTES element is cut short, holds a NUL or is not UTF-8.
 */
export function binaryTensorData(what: string, bytes: Uint8Array, datatype: OipDatatype, info: ElementTypeInfo, count: number, shape: string): TensorData {
  if (info.type !== 'string') {
    const expected = count * info.bytes;
    if (bytes.length !== expected) {
      throw new InferdError('INVALID_ARGUMENT', `${what}: shape ${shape} of ${datatype.name} needs ${expected} bytes of binary data, binary_data_size is ${bytes.length}`);
    }
    return copyRaw(bytes, info, count);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const elements: string[] = [];
  let at = 0;
  while (at < bytes.length) {
    const index = elements.length;
    if (index === count) throw new InferdError('INVALID_ARGUMENT', `${what}: shape ${shape} needs ${count} BYTES elements, the binary data holds more (${bytes.length - at} bytes left after element ${count - 1})`);
    if (bytes.length - at < LENGTH_PREFIX_BYTES) throw new InferdError('INVALID_ARGUMENT', `${what}: the binary data ends inside the 4-byte length of element ${index} (${bytes.length - at} bytes left)`);
    const length = view.getUint32(at, true);
    at += LENGTH_PREFIX_BYTES;
    if (length > bytes.length - at) throw new InferdError('INVALID_ARGUMENT', `${what}: element ${index} has length ${length}, but the binary data has ${bytes.length - at} bytes left`);
    elements.push(stringElement(what, bytes.subarray(at, at + length), index, 'BYTES'));
    at += length;
  }
  if (elements.length !== count) throw new InferdError('INVALID_ARGUMENT', `${what}: shape ${shape} needs ${count} BYTES elements, the binary data holds ${elements.length}`);
  return elements;
}
