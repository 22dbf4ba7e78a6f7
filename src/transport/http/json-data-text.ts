import type { HostTensor } from '../../tensor/tensor-types';
import { fromFloat16Bits, toFloat16Bits } from '../../tensor/float16';

/**
 * A tensor's elements as the text of a flat JSON array, row-major: BOOL as true/false, integers
 * exactly (INT64 and UINT64 included), floating-point values in the fewest digits that read
 * back as the same value of their own width (FP32 0.1 is written 0.1, not 0.10000000149011612),
 * NaN and the infinities as the strings "NaN", "Infinity" and "-Infinity" (JSON has no numbers
 * for them), BYTES as JSON strings.
 */
export function jsonDataText(tensor: HostTensor): string {
  const data = tensor.data;
  if (Array.isArray(data)) return JSON.stringify(data);
  switch (tensor.type) {
    case 'bool': {
      const parts = new Array<string>(data.length);
      for (let i = 0; i < data.length; i++) parts[i] = data[i] === 0 ? 'false' : 'true';
      return `[${parts.join(',')}]`;
    }
    case 'float32':
      return floats(data as Float32Array, float32Text);
    case 'float64':
      return floats(data as Float64Array, float64Text);
    case 'float16':
      return floats(data as Uint16Array, float16Text);
    default:
      // Integers, bigints included: join writes each exactly.
      return `[${data.join(',')}]`;
  }
}

function floats<T extends { readonly length: number; readonly [i: number]: number }>(data: T, text: (v: number) => string): string {
  const parts = new Array<string>(data.length);
  for (let i = 0; i < data.length; i++) parts[i] = text(data[i]!);
  return `[${parts.join(',')}]`;
}

function nonFinite(v: number): string {
  return Number.isNaN(v) ? '"NaN"' : v > 0 ? '"Infinity"' : '"-Infinity"';
}

function float64Text(v: number): string {
  if (Object.is(v, -0)) return '-0';
  return Number.isFinite(v) ? String(v) : nonFinite(v);
}

/** The shortest decimal that reads back as this float32 (9 significant digits always do). */
function float32Text(v: number): string {
  if (!Number.isFinite(v)) return nonFinite(v);
  if (Object.is(v, -0)) return '-0';
  if (Number.isInteger(v) && Math.abs(v) < 1e21) return String(v);
  for (let p = 6; p < 9; p++) {
    const n = Number(v.toPrecision(p));
    if (Math.fround(n) === v) return String(n);
  }
  return String(Number(v.toPrecision(9)));
}

/** The shortest decimal that reads back as these half-precision bits (5 significant digits always do). */
function float16Text(bits: number): string {
  const v = fromFloat16Bits(bits);
  if (!Number.isFinite(v)) return nonFinite(v);
  if (Object.is(v, -0)) return '-0';
  if (Number.isInteger(v)) return String(v);
  for (let p = 3; p < 5; p++) {
    const n = Number(v.toPrecision(p));
    if (toFloat16Bits(n) === bits) return String(n);
  }
  return String(Number(v.toPrecision(5)));
}
