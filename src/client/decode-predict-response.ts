import { elementTypeOfWire, type ElementType, type ElementTypeInfo, type NumericArray } from '../tensor/element-types';
import { toFloat16Bits } from '../tensor/float16';
import type { PredictResult } from './client-types';
import type { Datatype, OutputTensor, Outputs } from './tensor-types';
import { WireReader } from './wire-reader';

/**
 * Decodes an inferd.v1.PredictResponse. Numeric outputs sent as raw_data become typed arrays
 * over `buf` itself where their offset is a multiple of the element size (a copy otherwise);
 * outputs sent in typed fields (the server does so when a request had a STRING input) are
 * converted. Throws a RangeError for a malformed message.
 */
export function decodePredictResponse(buf: Buffer): PredictResult {
  return readPredictResponse(new WireReader(buf), buf.length);
}

/** Reads a PredictResponse that ends at `end`. */
export function readPredictResponse(r: WireReader, end: number): PredictResult {
  let modelName = '';
  let modelVersion = '';
  let id = '';
  const outputs: Outputs = {};
  while (r.pos < end) {
    const tag = r.uint53();
    if (tag === 0x0a) modelName = r.string();
    else if (tag === 0x12) modelVersion = r.string();
    else if (tag === 0x22) id = r.string();
    else if (tag === 0x1a) {
      // 3: outputs, a map entry of key (1) and Tensor (2)
      const entryEnd = r.enter();
      let key = '';
      let tensor: OutputTensor | undefined;
      while (r.pos < entryEnd) {
        const t = r.uint53();
        if (t === 0x0a) key = r.string();
        else if (t === 0x12) {
          const tensorEnd = r.enter();
          tensor = readTensor(r, tensorEnd);
        } else r.skip(t % 8);
      }
      if (tensor !== undefined) outputs[key] = tensor;
    } else r.skip(tag % 8);
  }
  return { modelName, modelVersion, outputs, id };
}

/** The wire type of one element of each repeated scalar field of Tensor (2 shape ... 9 bool_data), when not packed. */
const ELEMENT_WIRE_TYPE: readonly number[] = [-1, -1, 0, -1, 5, 1, 0, 0, 0, 0];

/** The Tensor from `r.pos` to `end`. */
function readTensor(r: WireReader, end: number): OutputTensor {
  const buf = r.buf;
  let datatype = 0;
  const shape: number[] = [];
  let rawStart = -1;
  let rawEnd = -1;
  let numbers: number[] | undefined;
  let bigints: bigint[] | undefined;
  let booleans: boolean[] | undefined;
  let strings: string[] | undefined;
  while (r.pos < end) {
    const tag = r.uint53();
    const field = Math.floor(tag / 8);
    const wireType = tag % 8;
    if (field === 1 && wireType === 0) datatype = r.uint53();
    else if (field === 3 && wireType === 2) {
      rawEnd = r.enter();
      rawStart = r.pos;
      r.pos = rawEnd;
    } else if (field === 10 && wireType === 2) (strings ??= []).push(r.string());
    else if (field >= 2 && field <= 9 && field !== 3) {
      // Repeated scalars come packed (one length-delimited field) or one by one; both are read.
      if (wireType !== 2 && wireType !== ELEMENT_WIRE_TYPE[field])
        throw new RangeError(`Tensor field ${field} has wire type ${wireType}`);
      const fieldEnd = wireType === 2 ? r.enter() : -1;
      do {
        switch (field) {
          case 2:
            shape.push(r.uint53());
            break;
          case 4:
            (numbers ??= []).push(r.float());
            break;
          case 5:
            (numbers ??= []).push(r.double());
            break;
          case 6:
            (numbers ??= []).push(r.int32());
            break;
          case 7:
            (bigints ??= []).push(r.int64());
            break;
          case 8:
            (bigints ??= []).push(r.uint64());
            break;
          default:
            (booleans ??= []).push(r.uint53() !== 0);
        }
      } while (r.pos < fieldEnd);
    } else r.skip(wireType);
  }
  const info = elementTypeOfWire(datatype);
  if (info === undefined) throw new RangeError(`an output has datatype ${datatype}, which this client does not know`);
  const label = info.label as Datatype;
  const tensor = (data: unknown): OutputTensor => ({ datatype: label, shape, data }) as OutputTensor;
  if (info.type === 'string') return tensor(strings ?? []);
  if (info.type === 'bool')
    return tensor(rawStart < 0 ? (booleans ?? []) : Array.from(buf.subarray(rawStart, rawEnd), (b) => b !== 0));
  if (rawStart >= 0) return tensor(view(buf, rawStart, rawEnd, info));
  const values = numbers ?? [];
  const big = bigints ?? [];
  const count = Math.max(values.length, big.length);
  const out = info.allocate(count);
  if (info.type === 'float16') for (let i = 0; i < count; i++) out[i] = toFloat16Bits(values[i]!);
  else if (info.type === 'uint32') for (let i = 0; i < count; i++) out[i] = Number(big[i]!);
  else if (out instanceof BigInt64Array || out instanceof BigUint64Array) out.set(big);
  else out.set(values);
  return tensor(out);
}

type ArrayClass = new (buffer: ArrayBufferLike, byteOffset: number, length: number) => NumericArray;

const ARRAY_CLASS: Readonly<Record<Exclude<ElementType, 'string' | 'bool'>, ArrayClass>> = {
  float32: Float32Array,
  float64: Float64Array,
  float16: Uint16Array,
  int8: Int8Array,
  int16: Int16Array,
  int32: Int32Array,
  int64: BigInt64Array,
  uint8: Uint8Array,
  uint16: Uint16Array,
  uint32: Uint32Array,
  uint64: BigUint64Array,
};

/** A typed array of `info`'s type over bytes [start, end) of `buf`: a view when aligned, a copy otherwise. */
function view(buf: Buffer, start: number, end: number, info: ElementTypeInfo): NumericArray {
  const length = end - start;
  if (length % info.bytes !== 0)
    throw new RangeError(`${info.label} raw_data of ${length} bytes is not a whole number of elements`);
  const offset = buf.byteOffset + start;
  const make = ARRAY_CLASS[info.type as Exclude<ElementType, 'string' | 'bool'>];
  if (offset % info.bytes === 0) return new make(buf.buffer, offset, length / info.bytes);
  const copy = new Uint8Array(length);
  copy.set(buf.subarray(start, end));
  return new make(copy.buffer, 0, length / info.bytes);
}
