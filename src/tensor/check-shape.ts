import { InferdError } from '../inferd-error';
import { formatShape } from './format-shape';

/**
 * The largest size of one dimension: onnxruntime-node refuses a larger one (`Tensor.dims[i] is
 * invalid`). Checked on each dimension, because the element count alone hides a dimension of any
 * size next to a 0.
 */
export const MAX_DIMENSION = 2 ** 32 - 1;

/**
 * The dimensions of a shape (a wire one in bigints, or a host one), checked against the shape a model declares (where -1 takes
 * any size). `what` names the tensor in messages, e.g. `input "x"`. Throws INVALID_ARGUMENT
 * naming the dimension for one outside [0, MAX_DIMENSION], and for a shape the declared one
 * cannot take.
 */
export function checkShape(what: string, shape: readonly (bigint | number)[], declared: readonly number[]): number[] {
  // The rank first: a request may send a shape of any length, and none but the declared one fits.
  if (shape.length !== declared.length) throw mismatch(what, declared, shape);
  const dims: number[] = [];
  for (let i = 0; i < shape.length; i++) {
    const d = shape[i]!;
    if (d < 0 || d > MAX_DIMENSION || (typeof d === 'number' && !Number.isInteger(d))) {
      throw new InferdError('INVALID_ARGUMENT', `${what}: dimension ${i} of shape ${formatShape(shape)} is ${d}, expected 0 to ${MAX_DIMENSION}`);
    }
    dims.push(Number(d));
  }
  if (!declared.every((d, i) => d < 0 || d === dims[i])) throw mismatch(what, declared, dims);
  return dims;
}

function mismatch(what: string, declared: readonly number[], got: readonly (number | bigint)[]): InferdError {
  return new InferdError('INVALID_ARGUMENT', `${what}: expected shape ${formatShape(declared)}, got ${formatShape(got)}`);
}
