import { InferdError } from '../../inferd-error';
import { toFloat16Bits } from '../../tensor/float16';
import { elementType, type ElementType, type NumericArray } from '../../tensor/element-types';
import { formatShape, type HostTensor } from '../../tensor/tensor-types';

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;

/**
 * One record's value for one input (nested arrays, as in a JSON Lines record) as a tensor of
 * the declared element type, checked against `dims`, the shape of one record (-1 takes any
 * size). Leaves are numbers for numeric types (64-bit integers may also be decimal strings, to
 * carry values past 2^53 exactly), booleans for BOOL, strings for STRING. `what` names the
 * value in messages. Throws INVALID_ARGUMENT saying what was expected and what came: arrays that
 * are not rectangular, a shape that does not fit, a leaf of the wrong kind or out of range.
 */
export function recordTensor(what: string, value: unknown, type: ElementType, dims: readonly number[]): HostTensor {
  const shape: number[] = [];
  for (let v = value; Array.isArray(v); v = v[0]) {
    shape.push(v.length);
    if (v.length === 0) break;
  }
  if (shape.length < dims.length && shape[shape.length - 1] === 0) {
    while (shape.length < dims.length) shape.push(Math.max(0, dims[shape.length]!));
  }
  const fits = shape.length === dims.length && dims.every((d, i) => d < 0 || d === shape[i]);
  if (!fits) throw invalid(`${what}: expected shape ${formatShape(dims)} for one record, got ${formatShape(shape)}`);

  const leaves: unknown[] = [];
  const walk = (v: unknown, depth: number, at: number[]): void => {
    if (depth === shape.length) {
      if (Array.isArray(v)) throw invalid(`${what}: element ${formatShape(at)} is an array, expected a value (shape ${formatShape(shape)})`);
      leaves.push(v);
      return;
    }
    if (!Array.isArray(v) || v.length !== shape[depth]) {
      throw invalid(`${what}: not a rectangular array of shape ${formatShape(shape)} (${formatShape(at)} ${Array.isArray(v) ? `has ${v.length} elements` : 'is not an array'})`);
    }
    v.forEach((e, i) => walk(e, depth + 1, [...at, i]));
  };
  walk(value, 0, []);

  const info = elementType(type);
  const at = (i: number): string => formatShape(unflatten(i, shape));
  const bad = (i: number, v: unknown): InferdError => invalid(`${what}: element ${at(i)} is ${JSON.stringify(v) ?? String(v)}, expected ${article(info.label)}`);
  switch (type) {
    case 'string':
      return { type, dims: shape, data: leaves.map((v, i) => (typeof v === 'string' ? v : throwIt(bad(i, v)))) };
    case 'bool':
      return { type, dims: shape, data: Uint8Array.from(leaves, (v, i) => (typeof v === 'boolean' ? (v ? 1 : 0) : throwIt(bad(i, v)))) };
    case 'int64':
    case 'uint64': {
      const [lo, hi] = type === 'int64' ? [INT64_MIN, INT64_MAX] : [0n, UINT64_MAX];
      const values = leaves.map((v, i) => {
        const n = typeof v === 'number' && Number.isSafeInteger(v) ? BigInt(v) : typeof v === 'string' && /^-?\d+$/.test(v) ? BigInt(v) : undefined;
        if (n === undefined) throw bad(i, v);
        if (n < lo || n > hi) throw invalid(`${what}: element ${at(i)} is ${v}, out of range for ${info.label}`);
        return n;
      });
      return { type, dims: shape, data: type === 'int64' ? BigInt64Array.from(values) : BigUint64Array.from(values) };
    }
    default: {
      const data = info.allocate(leaves.length) as Exclude<NumericArray, BigInt64Array | BigUint64Array>;
      const integer = type !== 'float32' && type !== 'float64' && type !== 'float16';
      const range = integer ? (info.range ?? [-(2 ** 31), 2 ** 31 - 1]) : undefined;
      leaves.forEach((v, i) => {
        if (typeof v !== 'number' || (integer && !Number.isInteger(v))) throw bad(i, v);
        if (range !== undefined && (v < range[0] || v > range[1])) throw invalid(`${what}: element ${at(i)} is ${v}, out of range for ${info.label} [${range[0]}, ${range[1]}]`);
        data[i] = type === 'float16' ? toFloat16Bits(v) : v;
      });
      return { type, dims: shape, data };
    }
  }
}

function unflatten(index: number, dims: readonly number[]): number[] {
  const at: number[] = [];
  for (let d = dims.length - 1; d >= 0; d--) {
    at.unshift(index % dims[d]!);
    index = Math.floor(index / dims[d]!);
  }
  return at;
}

function article(label: string): string {
  return /^[AEIOU]/.test(label) ? `an ${label}` : `a ${label}`;
}

function invalid(message: string): InferdError {
  return new InferdError('INVALID_ARGUMENT', message);
}

function throwIt(err: Error): never {
  throw err;
}
