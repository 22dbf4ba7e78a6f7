import { fromFloat16Bits, toFloat16Bits } from '../tensor/float16';

/** The values of half-precision bit patterns (a FLOAT16 output's data). */
export function float16ToFloat32(bits: Uint16Array): Float32Array {
  return Float32Array.from(bits, fromFloat16Bits);
}

/** The half-precision bit patterns nearest to `values` (rounding to nearest, ties to even). */
export function float32ToFloat16(values: Float32Array | readonly number[]): Uint16Array {
  return Uint16Array.from(values, toFloat16Bits);
}
