/** Element types by their inferd.v1.DataType name (without the DATA_TYPE_ prefix). */
export type Datatype =
  | 'FLOAT32'
  | 'FLOAT64'
  | 'FLOAT16'
  | 'INT8'
  | 'INT16'
  | 'INT32'
  | 'INT64'
  | 'UINT8'
  | 'UINT16'
  | 'UINT32'
  | 'UINT64'
  | 'BOOL'
  | 'STRING';

/** The typed arrays a tensor's elements can be held in. */
export type TypedArray =
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

/**
 * One input of a prediction. `data` holds the elements in row-major order; their count must be
 * the product of `shape` (checked before anything is sent).
 *
 * - A typed array gives its own datatype: Float32Array FLOAT32, Float64Array FLOAT64, Int8Array
 *   INT8, Int16Array INT16, Int32Array INT32, BigInt64Array INT64, Uint8Array UINT8, Uint16Array
 *   UINT16, Uint32Array UINT32, BigUint64Array UINT64. Its bytes are sent as they are.
 * - With `datatype: 'FLOAT16'`: a Uint16Array of half-precision bit patterns (sent as they are),
 *   or a Float32Array, converted (rounded to the nearest half).
 * - With `datatype: 'BOOL'`: a Uint8Array of 0/1 bytes.
 * - `string[]`: STRING (UTF-8); `boolean[]`: BOOL; `bigint[]`: INT64 (or UINT64 when given).
 * - `number[]`: needs `datatype`; each value must fit it (integers for integer types).
 */
export interface InputTensor {
  readonly data: TypedArray | readonly string[] | readonly boolean[] | readonly number[] | readonly bigint[];
  /** Dimensions, row-major; [] is a scalar. */
  readonly shape: readonly number[];
  /** Needed for `number[]` data and FLOAT16; otherwise, when given, it must match the data. */
  readonly datatype?: Datatype;
}

/** A prediction's inputs by name. */
export type Inputs = Readonly<Record<string, InputTensor>>;

/** What an output's elements come back as, by datatype. */
export interface OutputDataOf {
  FLOAT32: Float32Array;
  FLOAT64: Float64Array;
  /** Half-precision bit patterns: see `float16ToFloat32`. */
  FLOAT16: Uint16Array;
  INT8: Int8Array;
  INT16: Int16Array;
  INT32: Int32Array;
  INT64: BigInt64Array;
  UINT8: Uint8Array;
  UINT16: Uint16Array;
  UINT32: Uint32Array;
  UINT64: BigUint64Array;
  BOOL: boolean[];
  STRING: string[];
}

/**
 * One output of a prediction. Numeric data is, where the bytes' alignment in the received message
 * allows, a view over that message (no copy): it stays valid as long as it is referenced, and
 * writing to it changes nothing on the server.
 */
export type OutputTensor = {
  [D in Datatype]: { readonly datatype: D; readonly shape: number[]; readonly data: OutputDataOf[D] };
}[Datatype];

/** A prediction's outputs by name. */
export type Outputs = Record<string, OutputTensor>;
