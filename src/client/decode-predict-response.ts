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
    const [field, wireType] = r.tag();
    if (field === 1 && wireType === 2) modelName = r.string();
    else if (field === 2 && wireType === 2) modelVersion = r.string();
    else if (field === 4 && wireType === 2) id = r.string();
    else if (field === 3 && wireType === 2) {
      const entryEnd = r.enter();
      let key = '';
      let tensor: OutputTensor | undefined;
      while (r.pos < entryEnd) {
        const [f, w] = r.tag();
        if (f === 1 && w === 2) key = r.string();
        else if (f === 2 && w === 2) {
          const [start, tensorEnd] = r.delimited();
          tensor = readTensor(r.buf, start, tensorEnd);
        } else r.skip(w);
      }
      if (tensor !== undefined) outputs[key] = tensor;
    } else r.skip(wireType);
  }
  return { modelName, modelVersion, outputs, id };
}

/** The Tensor between `start` and `end` of `buf`. */
function readTensor(buf: Buffer, start: number, end: number): OutputTensor {
  const r = new WireReader(buf, start, end);
  let datatype = 0;
  const shape: number[] = [];
  let raw: [number, number] | undefined;
  const numbers: number[] = [];
  const bigints: bigint[] = [];
  const booleans: boolean[] = [];
  const strings: string[] = [];
  // Repeated scalars come packed (one length-delimited field) or one by one; both are read.
  const repeated = (wireType: number, packedAs: number, read: () => void): void => {
    if (wireType !== 2) {
      if (wireType !== packedAs) throw new RangeError(`unexpected wire type ${wireType}`);
      read();
      return;
    }
    const fieldEnd = r.enter();
    while (r.pos < fieldEnd) read();
  };
  while (r.pos < end) {
    const [field, wireType] = r.tag();
    switch (field) {
      case 1:
        datatype = r.uint53();
        break;
      case 2:
        repeated(wireType, 0, () => shape.push(r.uint53()));
        break;
      case 3:
        raw = r.delimited();
        break;
      case 4:
        repeated(wireType, 5, () => numbers.push(r.float()));
        break;
      case 5:
        repeated(wireType, 1, () => numbers.push(r.double()));
        break;
      case 6:
        repeated(wireType, 0, () => numbers.push(r.int32()));
        break;
      case 7:
        repeated(wireType, 0, () => bigints.push(r.int64()));
        break;
      case 8:
        repeated(wireType, 0, () => bigints.push(r.uint64()));
        break;
      case 9:
        repeated(wireType, 0, () => booleans.push(r.uint53() !== 0));
        break;
      case 10:
        strings.push(r.string());
        break;
      default:
        r.skip(wireType);
    }
  }
  const info = elementTypeOfWire(datatype);
  if (info === undefined) throw new RangeError(`an output has datatype ${datatype}, which this client does not know`);
  const label = info.label as Datatype;
  const tensor = (data: unknown): OutputTensor => ({ datatype: label, shape, data }) as OutputTensor;
  if (info.type === 'string') return tensor(strings);
  if (info.type === 'bool') return tensor(raw === undefined ? booleans : Array.from(buf.subarray(raw[0], raw[1]), (b) => b !== 0));
  if (raw !== undefined) return tensor(view(buf, raw[0], raw[1], info));
  const count = Math.max(numbers.length, bigints.length);
  const out = info.allocate(count);
  if (info.type === 'float16') for (let i = 0; i < count; i++) out[i] = toFloat16Bits(numbers[i]!);
  else if (info.type === 'uint32') for (let i = 0; i < count; i++) out[i] = Number(bigints[i]!);
  else if (out instanceof BigInt64Array || out instanceof BigUint64Array) out.set(bigints);
  else out.set(numbers);
  return tensor(out);
}

type ArrayClass = new (buffer: ArrayBufferLike, byteOffset: number, length: number) => NumericArray;

const ARRAY_CLASS: Readonly<Record<Exclude<ElementType, 'string' | 'bool'>, ArrayClass>> = {
  float32: Float32Array, float64: Float64Array, float16: Uint16Array, int8: Int8Array, int16: Int16Array, int32: Int32Array,
  int64: BigInt64Array, uint8: Uint8Array, uint16: Uint16Array, uint32: Uint32Array, uint64: BigUint64Array,
};

/** A typed array of `info`'s type over bytes [start, end) of `buf`: a view when aligned, a copy otherwise. */
function view(buf: Buffer, start: number, end: number, info: ElementTypeInfo): NumericArray {
  const length = end - start;
  if (length % info.bytes !== 0) throw new RangeError(`${info.label} raw_data of ${length} bytes is not a whole number of elements`);
  const offset = buf.byteOffset + start;
  const make = ARRAY_CLASS[info.type as Exclude<ElementType, 'string' | 'bool'>];
  if (offset % info.bytes === 0) return new make(buf.buffer, offset, length / info.bytes);
  const copy = new Uint8Array(length);
  copy.set(buf.subarray(start, end));
  return new make(copy.buffer, 0, length / info.bytes);
}
