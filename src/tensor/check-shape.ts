import { InferdError } from '../inferd-error';
import { formatShape } from './format-shape';

/**
 * The dimensions of a wire shape, checked against the shape a model declares (where -1 takes
 * any size). `what` names the tensor in messages, e.g. `input "x"`. Throws INVALID_ARGUMENT
 * for a negative or too large dimension, and for a shape the declared one cannot take.
 */
export function checkShape(what: string, shape: readonly bigint[], declared: readonly number[]): number[] {
  const dims: number[] = [];
  for (const d of shape) {
    if (d < 0n || d > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new InferdError('INVALID_ARGUMENT', `${what}: dimension ${d} in shape [${shape.join(',')}] is out of range`);
    }
    dims.push(Number(d));
  }
  const fits = dims.length === declared.length && declared.every((d, i) => d < 0 || d === dims[i]);
  if (!fits) throw new InferdError('INVALID_ARGUMENT', `${what}: expected shape ${formatShape(declared)}, got ${formatShape(dims)}`);
  return dims;
}
