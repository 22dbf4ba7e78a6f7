import { elementType, type ElementType } from '../tensor/element-types';
import { toFloat16Bits } from '../tensor/float16';
import { InferdClientError } from './inferd-client-error';
import type { Datatype, InputTensor, TypedArray } from './tensor-types';

/** An input checked and in the form the request encoder writes. */
export interface WireInput {
  readonly name: string;
  /** inferd.v1.DataType number. */
  readonly datatype: number;
  readonly shape: readonly number[];
  /** The elements' little-endian bytes (every type but STRING): a view, not a copy, where the data was already a typed array of the type. */
  readonly raw: Uint8Array | undefined;
  /** STRING elements. */
  readonly strings: readonly string[] | undefined;
}

const TYPE_OF: Readonly<Record<Datatype, ElementType>> = {
  FLOAT32: 'float32',
  FLOAT64: 'float64',
  FLOAT16: 'float16',
  INT8: 'int8',
  INT16: 'int16',
  INT32: 'int32',
  INT64: 'int64',
  UINT8: 'uint8',
  UINT16: 'uint16',
  UINT32: 'uint32',
  UINT64: 'uint64',
  BOOL: 'bool',
  STRING: 'string',
};

/** The datatype each typed array class gives, and the other datatypes it may be sent as. */
const ARRAY_TYPES: Readonly<Record<string, readonly Datatype[]>> = {
  Float32Array: ['FLOAT32', 'FLOAT16'],
  Float64Array: ['FLOAT64'],
  Int8Array: ['INT8'],
  Int16Array: ['INT16'],
  Int32Array: ['INT32'],
  BigInt64Array: ['INT64'],
  Uint8Array: ['UINT8', 'BOOL'],
  Uint8ClampedArray: ['UINT8', 'BOOL'],
  Uint16Array: ['UINT16', 'FLOAT16'],
  Uint32Array: ['UINT32'],
  BigUint64Array: ['UINT64'],
};

/** Inclusive ranges of the integer types, for values given as numbers or bigints. */
const INTEGER_RANGE: Readonly<Partial<Record<Datatype, readonly [bigint, bigint]>>> = {
  INT8: [-128n, 127n],
  INT16: [-32768n, 32767n],
  INT32: [-(2n ** 31n), 2n ** 31n - 1n],
  INT64: [-(2n ** 63n), 2n ** 63n - 1n],
  UINT8: [0n, 255n],
  UINT16: [0n, 65535n],
  UINT32: [0n, 2n ** 32n - 1n],
  UINT64: [0n, 2n ** 64n - 1n],
};

function invalid(message: string): InferdClientError {
  return new InferdClientError('INVALID_ARGUMENT', message);
}

const bytesOf = (a: TypedArray): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/**
 * Checks one input and puts it in wire form, without sending anything. Throws an
 * InferdClientError INVALID_ARGUMENT naming the input: a shape that is not a list of whole
 * numbers ≥ 0, an element count other than the shape's, a datatype the data cannot be sent as,
 * a number that does not fit its integer type. A typed array of the datatype is not copied.
 */
export function toWireInput(name: string, input: InputTensor): WireInput {
  const what = `input "${name}"`;
  if (input === null || typeof input !== 'object' || input.data === null || typeof input.data !== 'object')
    throw invalid(
      `${what}: expected { data, shape }, got ${input === null ? 'null' : typeof input === 'object' ? 'no data' : typeof input}`,
    );
  const { data, shape } = input;
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0))
    throw invalid(`${what}: shape must be a list of whole numbers ≥ 0, got ${JSON.stringify(shape)}`);
  const count = shape.reduce((a: number, b: number) => a * b, 1);
  if (data.length !== count)
    throw invalid(`${what}: shape [${shape.join(',')}] holds ${count} elements, data has ${data.length}`);

  if (!Array.isArray(data)) {
    const array = data as TypedArray;
    const tag = array[Symbol.toStringTag];
    const allowed = ARRAY_TYPES[tag];
    if (allowed === undefined) throw invalid(`${what}: data must be a typed array or an array, got ${tag}`);
    const datatype = input.datatype ?? allowed[0]!;
    if (!allowed.includes(datatype))
      throw invalid(`${what}: a ${tag} is sent as ${allowed.join(' or ')}, not ${datatype}`);
    const raw =
      tag === 'Float32Array' && datatype === 'FLOAT16'
        ? bytesOf(Uint16Array.from(array as Float32Array, toFloat16Bits))
        : bytesOf(array);
    return { name, datatype: wireOf(datatype), shape, raw, strings: undefined };
  }

  const first: unknown = data[0];
  const kind = data.length === 0 ? undefined : typeof first;
  const datatype =
    input.datatype ??
    (kind === 'string' ? 'STRING' : kind === 'boolean' ? 'BOOL' : kind === 'bigint' ? 'INT64' : undefined);
  if (datatype === undefined)
    throw invalid(`${what}: an array of ${kind === undefined ? 'no elements' : `${kind}s`} needs a datatype`);
  if (TYPE_OF[datatype] === undefined) throw invalid(`${what}: unknown datatype ${JSON.stringify(datatype)}`);
  if (datatype === 'STRING') {
    const bad = data.findIndex((v: unknown) => typeof v !== 'string');
    if (bad >= 0) throw invalid(`${what}: STRING element ${bad} is a ${typeof data[bad]}, not a string`);
    return { name, datatype: wireOf(datatype), shape, raw: undefined, strings: data as readonly string[] };
  }
  return {
    name,
    datatype: wireOf(datatype),
    shape,
    raw: bytesOf(fromArray(what, data as readonly unknown[], datatype)),
    strings: undefined,
  };
}

function wireOf(datatype: Datatype): number {
  return elementType(TYPE_OF[datatype]).wire;
}

/** A new typed array of `datatype` holding `values` (numbers, bigints or booleans), each checked to fit. */
function fromArray(what: string, values: readonly unknown[], datatype: Datatype): TypedArray {
  const out = elementType(TYPE_OF[datatype]).allocate(values.length);
  const range = INTEGER_RANGE[datatype];
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    const wrong = (): InferdClientError =>
      invalid(
        `${what}: element ${i} (${typeof v === 'bigint' ? `${v}n` : JSON.stringify(v)}) does not fit ${datatype}`,
      );
    if (datatype === 'BOOL') {
      if (typeof v !== 'boolean' && v !== 0 && v !== 1) throw wrong();
      out[i] = v === true || v === 1 ? 1 : 0;
    } else if (range !== undefined) {
      if (!(typeof v === 'bigint' || (typeof v === 'number' && Number.isInteger(v)))) throw wrong();
      const n = BigInt(v);
      if (n < range[0] || n > range[1]) throw wrong();
      if (out instanceof BigInt64Array || out instanceof BigUint64Array) out[i] = n;
      else out[i] = Number(n);
    } else {
      if (typeof v !== 'number') throw wrong();
      out[i] = datatype === 'FLOAT16' ? toFloat16Bits(v) : v;
    }
  }
  return out;
}
