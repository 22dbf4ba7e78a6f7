import { InferdError } from '../inferd-error';
import { elementType, type NumericArray } from '../tensor/element-types';
import type { HostTensor } from '../tensor/tensor-types';

/**
 * Tensors joined along their first dimension, in a new buffer (one copy of each element). They
 * must share their type and every dimension past the first.
 */
export function stackTensors(parts: readonly HostTensor[]): HostTensor {
  const first = parts[0]!;
  const dims = [parts.reduce((sum, t) => sum + t.dims[0]!, 0), ...first.dims.slice(1)];
  if (Array.isArray(first.data)) return { type: first.type, dims, data: parts.flatMap((t) => t.data as string[]) };
  const data = elementType(first.type).allocate(parts.reduce((sum, t) => sum + t.data.length, 0));
  let offset = 0;
  for (const t of parts) {
    (data as Uint8Array).set(t.data as Uint8Array, offset);
    offset += t.data.length;
  }
  return { type: first.type, dims, data };
}

/**
 * Concatenates requests' feeds along the first dimension into one batch. The requests must agree
 * on every other dimension and on types, which the batcher's key guarantees. A single request
 * is returned as it is.
 */
export function stackFeeds(requests: readonly Record<string, HostTensor>[]): Record<string, HostTensor> {
  if (requests.length === 1) return requests[0]!;
  const stacked: Record<string, HostTensor> = {};
  for (const name of Object.keys(requests[0]!)) stacked[name] = stackTensors(requests.map((r) => r[name]!));
  return stacked;
}

/**
 * Splits a batch's outputs back into each request's share, `rows[i]` rows for request i, as
 * views over the batch's buffers (no copy). Throws INTERNAL when an output's first dimension is
 * not the batch's row count (a model that does not keep the batch dimension).
 */
export function splitOutputs(
  outputs: Record<string, HostTensor>,
  rows: readonly number[],
): Record<string, HostTensor>[] {
  if (rows.length === 1) return [outputs];
  const total = rows.reduce((a, b) => a + b, 0);
  const shares: Record<string, HostTensor>[] = rows.map(() => ({}));
  for (const [name, t] of Object.entries(outputs)) {
    if (t.dims[0] !== total) {
      throw new InferdError(
        'INTERNAL',
        `output "${name}" of a batched run has first dimension ${t.dims[0]}, not the batch's ${total} rows: set max_batch_size: 0 for this model`,
      );
    }
    const perRow = t.dims.slice(1).reduce((a, b) => a * b, 1);
    let start = 0;
    rows.forEach((n, i) => {
      const end = start + n * perRow;
      const data = Array.isArray(t.data) ? t.data.slice(start, end) : (t.data as NumericArray).subarray(start, end);
      shares[i]![name] = { type: t.type, dims: [n, ...t.dims.slice(1)], data };
      start = end;
    });
  }
  return shares;
}
