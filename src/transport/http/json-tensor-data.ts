import { InferdError } from '../../inferd-error';
import type { ElementTypeInfo, TensorData } from '../../tensor/element-types';
import { toFloat16Bits } from '../../tensor/float16';
import type { OipDatatype } from '../../tensor/oip-codec';
import type { JsonValue } from './parse-json';

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** The JSON strings that stand for floating-point values JSON numbers cannot write. */
const NON_FINITE: Readonly<Record<string, number>> = { NaN: NaN, Infinity: Infinity, '-Infinity': -Infinity };

/**
 * The elements of a tensor's JSON `data`, in row-major order, in a new buffer of their own: a
 * flat array, or arrays nested to any depth (flattened in order; nesting is not checked against
 * the shape, as Triton does not). `count` is the element count the shape gives.
 *
 * Per datatype: BOOL takes true/false; integer types take whole numbers within their range
 * (INT64 and UINT64 exactly, from the bigints parseJson makes); FP16, FP32 and FP64 take
 * numbers (FP16 and FP32 rounded to the nearest) or the strings "NaN", "Infinity",
 * "-Infinity"; BYTES takes strings, none holding a NUL (ONNX Runtime cuts strings there).
 *
 * Throws INVALID_ARGUMENT naming `what`, the element's index and what it holds against what
 * the datatype takes, and when the element count differs from `count`.
 */
export function jsonTensorData(what: string, data: JsonValue, datatype: OipDatatype, info: ElementTypeInfo, count: number, shape: string): TensorData {
  if (!Array.isArray(data)) throw new InferdError('INVALID_ARGUMENT', `${what}: "data" must be an array, got ${kind(data)}`);
  const leaves = flatten(data, count);
  if (leaves.length !== count) {
    throw new InferdError('INVALID_ARGUMENT', `${what}: shape ${shape} needs ${count} elements, "data" has ${leaves.length > count ? 'more' : leaves.length}`);
  }
  const fail = (i: number, expected: string): never => {
    throw new InferdError('INVALID_ARGUMENT', `${what}: element ${i} of "data" is ${describe(leaves[i]!)}, but ${datatype.name} takes ${expected}`);
  };
  switch (info.type) {
    case 'string': {
      const out: string[] = new Array<string>(count);
      for (let i = 0; i < count; i++) {
        const v = leaves[i];
        if (typeof v !== 'string') return fail(i, 'strings');
        if (v.includes('\0')) throw new InferdError('INVALID_ARGUMENT', `${what}: element ${i} contains a NUL character, which ONNX Runtime cannot carry in a BYTES tensor`);
        if (LONE_SURROGATE.test(v)) throw new InferdError('INVALID_ARGUMENT', `${what}: element ${i} holds a lone UTF-16 surrogate (a "\\uD800"-style escape), which is not text`);
        out[i] = v;
      }
      return out;
    }
    case 'bool': {
      const out = new Uint8Array(count);
      for (let i = 0; i < count; i++) {
        const v = leaves[i];
        if (typeof v !== 'boolean') return fail(i, 'true or false');
        out[i] = v ? 1 : 0;
      }
      return out;
    }
    case 'int64':
    case 'uint64': {
      const [min, max] = info.type === 'int64' ? [INT64_MIN, INT64_MAX] : [0n, UINT64_MAX];
      const out = info.allocate(count) as BigInt64Array | BigUint64Array;
      for (let i = 0; i < count; i++) {
        const v = leaves[i];
        let b: bigint;
        if (typeof v === 'bigint') b = v;
        else if (typeof v === 'number' && Number.isInteger(v)) b = BigInt(v);
        else return fail(i, `whole numbers in [${min}, ${max}]`);
        if (b < min || b > max) return fail(i, `whole numbers in [${min}, ${max}]`);
        out[i] = b;
      }
      return out;
    }
    case 'float16':
    case 'float32':
    case 'float64': {
      const out = info.allocate(count) as Uint16Array | Float32Array | Float64Array;
      const half = info.type === 'float16';
      for (let i = 0; i < count; i++) {
        const v = leaves[i];
        let n: number | undefined;
        if (typeof v === 'number') n = v;
        else if (typeof v === 'bigint') n = Number(v);
        else if (typeof v === 'string') n = NON_FINITE[v];
        if (n === undefined) return fail(i, 'numbers (or "NaN", "Infinity", "-Infinity")');
        out[i] = half ? toFloat16Bits(n) : n;
      }
      return out;
    }
    default: {
      // INT8 ... INT32, UINT8 ... UINT32: whole numbers within the type's range.
      const [min, max] = info.range ?? [-(2 ** 31), 2 ** 31 - 1];
      const out = info.allocate(count) as Int8Array | Int16Array | Int32Array | Uint8Array | Uint16Array | Uint32Array;
      for (let i = 0; i < count; i++) {
        const v = leaves[i];
        if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) return fail(i, `whole numbers in [${min}, ${max}]`);
        out[i] = v;
      }
      return out;
    }
  }
}

/**
 * The leaves of nested arrays in order, without recursion; stops once it has `count` + 1
 * (enough to tell that there are too many).
 */
function flatten(data: JsonValue[], count: number): JsonValue[] {
  // The common case: a flat array.
  if (!data.some(Array.isArray)) return data;
  const out: JsonValue[] = [];
  const stack: [JsonValue[], number][] = [[data, 0]];
  while (stack.length > 0 && out.length <= count) {
    const top = stack[stack.length - 1]!;
    const [array, i] = top;
    if (i === array.length) {
      stack.pop();
      continue;
    }
    top[1] = i + 1;
    const v = array[i]!;
    if (Array.isArray(v)) stack.push([v, 0]);
    else out.push(v);
  }
  return out;
}

function kind(v: JsonValue): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'bigint') return 'a number';
  return `a ${typeof v}`;
}

/** A leaf as messages show it: short values whole, others by kind. */
function describe(v: JsonValue): string {
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return String(v);
  if (typeof v === 'string') return v.length <= 32 ? JSON.stringify(v) : `a string of ${v.length} characters`;
  return kind(v);
}
