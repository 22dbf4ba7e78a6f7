/**
 * The element-type table: one row per type, naming it on the wire (the inferd.v1.DataType number
 * and name), in ONNX Runtime, and in JavaScript. Everything that converts tensors reads this
 * table instead of switching on types itself.
 */

/** Element types by their ONNX Runtime name. */
export type ElementType =
  | 'float32'
  | 'float64'
  | 'float16'
  | 'int8'
  | 'int16'
  | 'int32'
  | 'int64'
  | 'uint8'
  | 'uint16'
  | 'uint32'
  | 'uint64'
  | 'bool'
  | 'string';

/** The typed field of the wire Tensor that carries values of a type. */
export type TypedField =
  'floatData' | 'doubleData' | 'int32Data' | 'int64Data' | 'uint64Data' | 'boolData' | 'stringData';

export type NumericArray =
  | Float32Array
  | Float64Array
  | Int8Array
  | Int16Array
  | Int32Array
  | BigInt64Array
  | Uint8Array
  | Uint16Array
  | Uint32Array
  | BigUint64Array;

/** Element storage: a typed array for every type but string (float16 keeps raw half bits in a Uint16Array, bool one byte per element). */
export type TensorData = NumericArray | string[];

export interface ElementTypeInfo {
  readonly type: ElementType;
  /** inferd.v1.DataType number. */
  readonly wire: number;
  /** inferd.v1.DataType name without its prefix, as used in messages: FLOAT32, INT64... */
  readonly label: string;
  /** Bytes per element in raw_data; 0 for string (no raw form). */
  readonly bytes: number;
  readonly typedField: TypedField;
  /** Inclusive range of values that fit, for integer types carried in a wider typed field. */
  readonly range?: readonly [number, number];
  /** Makes storage for `count` elements in a new, unshared buffer. */
  readonly allocate: (count: number) => NumericArray;
  /** A view of `count` elements over `buffer` from byte `byteOffset` (a multiple of `bytes`). */
  readonly over: (buffer: ArrayBuffer, byteOffset: number, count: number) => NumericArray;
}

function noTypedArray(): never {
  throw new Error('string tensors have no typed array');
}

const rows: ElementTypeInfo[] = [
  {
    type: 'float32',
    wire: 1,
    label: 'FLOAT32',
    bytes: 4,
    typedField: 'floatData',
    allocate: (n) => new Float32Array(n),
    over: (b, at, n) => new Float32Array(b, at, n),
  },
  {
    type: 'float64',
    wire: 2,
    label: 'FLOAT64',
    bytes: 8,
    typedField: 'doubleData',
    allocate: (n) => new Float64Array(n),
    over: (b, at, n) => new Float64Array(b, at, n),
  },
  {
    type: 'float16',
    wire: 3,
    label: 'FLOAT16',
    bytes: 2,
    typedField: 'floatData',
    allocate: (n) => new Uint16Array(n),
    over: (b, at, n) => new Uint16Array(b, at, n),
  },
  {
    type: 'int8',
    wire: 4,
    label: 'INT8',
    bytes: 1,
    typedField: 'int32Data',
    range: [-128, 127],
    allocate: (n) => new Int8Array(n),
    over: (b, at, n) => new Int8Array(b, at, n),
  },
  {
    type: 'int16',
    wire: 5,
    label: 'INT16',
    bytes: 2,
    typedField: 'int32Data',
    range: [-32768, 32767],
    allocate: (n) => new Int16Array(n),
    over: (b, at, n) => new Int16Array(b, at, n),
  },
  {
    type: 'int32',
    wire: 6,
    label: 'INT32',
    bytes: 4,
    typedField: 'int32Data',
    allocate: (n) => new Int32Array(n),
    over: (b, at, n) => new Int32Array(b, at, n),
  },
  {
    type: 'int64',
    wire: 7,
    label: 'INT64',
    bytes: 8,
    typedField: 'int64Data',
    allocate: (n) => new BigInt64Array(n),
    over: (b, at, n) => new BigInt64Array(b, at, n),
  },
  {
    type: 'uint8',
    wire: 8,
    label: 'UINT8',
    bytes: 1,
    typedField: 'int32Data',
    range: [0, 255],
    allocate: (n) => new Uint8Array(n),
    over: (b, at, n) => new Uint8Array(b, at, n),
  },
  {
    type: 'uint16',
    wire: 9,
    label: 'UINT16',
    bytes: 2,
    typedField: 'int32Data',
    range: [0, 65535],
    allocate: (n) => new Uint16Array(n),
    over: (b, at, n) => new Uint16Array(b, at, n),
  },
  {
    type: 'uint32',
    wire: 10,
    label: 'UINT32',
    bytes: 4,
    typedField: 'int64Data',
    range: [0, 4294967295],
    allocate: (n) => new Uint32Array(n),
    over: (b, at, n) => new Uint32Array(b, at, n),
  },
  {
    type: 'uint64',
    wire: 11,
    label: 'UINT64',
    bytes: 8,
    typedField: 'uint64Data',
    allocate: (n) => new BigUint64Array(n),
    over: (b, at, n) => new BigUint64Array(b, at, n),
  },
  {
    type: 'bool',
    wire: 12,
    label: 'BOOL',
    bytes: 1,
    typedField: 'boolData',
    allocate: (n) => new Uint8Array(n),
    over: (b, at, n) => new Uint8Array(b, at, n),
  },
  {
    type: 'string',
    wire: 13,
    label: 'STRING',
    bytes: 0,
    typedField: 'stringData',
    allocate: noTypedArray,
    over: noTypedArray,
  },
];

const byType = new Map(rows.map((r) => [r.type, r]));
const byWire = new Map(rows.map((r) => [r.wire, r]));

/** The row for an element type. */
export function elementType(type: ElementType): ElementTypeInfo {
  const info = byType.get(type);
  if (info === undefined) throw new Error(`no element type ${type}`);
  return info;
}

/** The row for an inferd.v1.DataType number, or undefined for UNSPECIFIED and unknown numbers. */
export function elementTypeOfWire(wire: number): ElementTypeInfo | undefined {
  return byWire.get(wire);
}

/** The row for an ONNX Runtime type name, or undefined when inferd does not serve that type. */
export function elementTypeOfRuntime(type: string): ElementTypeInfo | undefined {
  return byType.get(type as ElementType);
}

export const TYPED_FIELDS: readonly TypedField[] = [
  'floatData',
  'doubleData',
  'int32Data',
  'int64Data',
  'uint64Data',
  'boolData',
  'stringData',
];

/** Wire names of the content fields, for messages. */
export const FIELD_NAMES: Record<TypedField | 'rawData', string> = {
  rawData: 'raw_data',
  floatData: 'float_data',
  doubleData: 'double_data',
  int32Data: 'int32_data',
  int64Data: 'int64_data',
  uint64Data: 'uint64_data',
  boolData: 'bool_data',
  stringData: 'string_data',
};
