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
  const n = rows.length;
  if (n === 1) return [outputs];
  let total = 0;
  for (let i = 0; i < n; i++) total += rows[i]!;
  // Plain loops, and one dims array for the shares of an output with the same row count (dims
  // are read-only): this runs for every request of every batch.
  const shares: Record<string, HostTensor>[] = new Array<Record<string, HostTensor>>(n);
  for (let i = 0; i < n; i++) shares[i] = {};
  for (const name in outputs) {
    const t = outputs[name]!;
    if (t.dims[0] !== total) {
      throw new InferdError(
        'INTERNAL',
        `output "${name}" of a batched run has first dimension ${t.dims[0]}, not the batch's ${total} rows: set max_batch_size: 0 for this model`,
      );
    }
    const rest = t.dims.slice(1);
    let perRow = 1;
    for (const d of rest) perRow *= d;
    const strings = Array.isArray(t.data);
    let dims: readonly number[] = [];
    let dimsRows = -1;
    let start = 0;
    for (let i = 0; i < n; i++) {
      const r = rows[i]!;
      const end = start + r * perRow;
      const data = strings ? (t.data as string[]).slice(start, end) : (t.data as NumericArray).subarray(start, end);
      if (r !== dimsRows) {
        dims = [r, ...rest];
        dimsRows = r;
      }
      shares[i]![name] = { type: t.type, dims, data };
      start = end;
    }
  }
  return shares;
}
