import { InferdError } from '../inferd-error';
import { checkShape } from './check-shape';
import { copyRaw } from './copy-raw';
import { elementType, type ElementTypeInfo, type NumericArray } from './element-types';
import { formatShape } from './format-shape';
import { OIP_CONTENTS_FIELDS, OIP_FIELD_NAMES, oipDatatype, oipDatatypeNamed, type OipDatatype } from './oip-datatypes';
import type { OipContentsField, OipInput } from './oip-tensor-types';
import type { HostTensor, TensorSpec } from './tensor-types';
import { stringElement } from './string-element';

/** Bytes of the length that precedes each BYTES element in raw form. */
const LENGTH_PREFIX_BYTES = 4;


/**
 * Checks an Open Inference Protocol input against what the model declares for it and converts
 * it to a HostTensor whose data lives in a new buffer of its own (safe to transfer to a worker).
 * Its elements come from `input.raw` when the request sent raw_input_contents (see oipInputs),
 * from the tensor's typed contents otherwise.
 *
 * `what` names the tensor in messages, e.g. `input "x"`. Throws INVALID_ARGUMENT naming the
 * tensor and what was expected against what came: a missing, unknown or other datatype than the
 * declared one, a shape the model cannot take, a contents field that does not belong to the
 * datatype or more than one, an element count or byte length that does not match the shape, a
 * value out of range, a BYTES element that ONNX Runtime cannot carry (a NUL byte, or not UTF-8).
 */
export function decodeOipTensor(what: string, input: OipInput, spec: TensorSpec): HostTensor {
  const declared = oipDatatype(spec.type);
  const { tensor, raw } = input;
  checkDatatype(what, tensor.datatype, declared);
  const dims = checkShape(what, tensor.shape, spec.dims);
  const count = dims.reduce((a, b) => a * b, 1);
  const info = elementType(spec.type);

  if (raw !== undefined) {
    const data = info.type === 'string' ? bytesFromRaw(what, raw, dims, count) : numericFromRaw(what, raw, info, declared, dims, count);
    return { type: info.type, dims, data };
  }
  const field = contentsField(what, input, declared);
  if (field === undefined) {
    if (count !== 0) throw invalid(`${what}: shape ${formatShape(dims)} needs ${count} ${declared.name} elements, got none`);
    return { type: info.type, dims, data: info.type === 'string' ? [] : info.allocate(0) };
  }
  const values = tensor.contents![field];
  if (values.length !== count) {
    throw invalid(`${what}: shape ${formatShape(dims)} needs ${count} elements, ${OIP_FIELD_NAMES[field]} has ${values.length}`);
  }
  return { type: info.type, dims, data: fromContents(what, input, field, info, declared, count) };
}

function invalid(message: string): InferdError {
  return new InferdError('INVALID_ARGUMENT', message);
}

function checkDatatype(what: string, sent: string, declared: OipDatatype): void {
  if (sent === declared.name) return;
  if (sent === '') throw invalid(`${what}: datatype is missing; the model takes ${declared.name}`);
  const known = oipDatatypeNamed(sent);
  if (known === undefined) throw invalid(`${what}: unknown datatype "${sent}"; the model takes ${declared.name}`);
  throw invalid(`${what}: expected datatype ${declared.name}, got ${sent}`);
}

/** The one contents field that holds elements, or undefined when none does. */
function contentsField(what: string, input: OipInput, declared: OipDatatype): OipContentsField | undefined {
  const contents = input.tensor.contents;
  if (contents === undefined) return undefined;
  const set = OIP_CONTENTS_FIELDS.filter((f) => contents[f].length > 0);
  if (set.length > 1) throw invalid(`${what}: more than one contents field set (${set.map((f) => OIP_FIELD_NAMES[f]).join(', ')}); use one`);
  const field = set[0];
  if (field === undefined) return undefined;
  if (declared.contentsField === undefined) {
    throw invalid(`${what}: ${declared.name} values can only be sent in raw_input_contents, got ${OIP_FIELD_NAMES[field]}`);
  }
  if (field !== declared.contentsField) {
    throw invalid(`${what}: ${declared.name} values go in ${OIP_FIELD_NAMES[declared.contentsField]}, got ${OIP_FIELD_NAMES[field]}`);
  }
  return field;
}

function numericFromRaw(what: string, raw: Uint8Array, info: ElementTypeInfo, declared: OipDatatype, dims: number[], count: number): NumericArray {
  const bytes = count * info.bytes;
  if (raw.length !== bytes) {
    throw invalid(`${what}: shape ${formatShape(dims)} of ${declared.name} needs ${bytes} bytes in raw_input_contents, got ${raw.length}`);
  }
  return copyRaw(raw, info, count);
}

/** BYTES in raw form: each element a 4-byte little-endian length, then that many bytes. */
function bytesFromRaw(what: string, raw: Uint8Array, dims: number[], count: number): string[] {
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const elements: string[] = [];
  let at = 0;
  while (at < raw.length) {
    const index = elements.length;
    if (index === count) {
      throw invalid(`${what}: shape ${formatShape(dims)} needs ${count} BYTES elements, raw_input_contents holds more (${raw.length - at} bytes left after element ${count - 1})`);
    }
    if (raw.length - at < LENGTH_PREFIX_BYTES) {
      throw invalid(`${what}: raw_input_contents ends inside the 4-byte length of element ${index} (${raw.length - at} bytes left)`);
    }
    const length = view.getUint32(at, true);
    at += LENGTH_PREFIX_BYTES;
    if (length > raw.length - at) {
      throw invalid(`${what}: element ${index} has length ${length}, but raw_input_contents has ${raw.length - at} bytes left`);
    }
    elements.push(stringElement(what, raw.subarray(at, at + length), index, 'BYTES'));
    at += length;
  }
  if (elements.length !== count) {
    throw invalid(`${what}: shape ${formatShape(dims)} needs ${count} BYTES elements, raw_input_contents holds ${elements.length}`);
  }
  return elements;
}

function fromContents(what: string, input: OipInput, field: OipContentsField, info: ElementTypeInfo, declared: OipDatatype, count: number): NumericArray | string[] {
  const contents = input.tensor.contents!;
  switch (field) {
    case 'bytesContents':
      return contents.bytesContents.map((b, i) => stringElement(what, b, i, 'BYTES'));
    case 'boolContents':
      return Uint8Array.from(contents.boolContents, (b) => (b ? 1 : 0));
    case 'int64Contents':
      return BigInt64Array.from(contents.int64Contents);
    case 'uint64Contents':
      return BigUint64Array.from(contents.uint64Contents);
    default: {
      const values = contents[field];
      const data = info.allocate(count) as Exclude<NumericArray, BigInt64Array | BigUint64Array>;
      for (let i = 0; i < count; i++) {
        const value = values[i]!;
        if (info.range !== undefined && (value < info.range[0] || value > info.range[1])) {
          throw invalid(`${what}: element ${i} is ${value}, out of range for ${declared.name} [${info.range[0]}, ${info.range[1]}]`);
        }
        data[i] = value;
      }
      return data;
    }
  }
}
