import type { HostTensor } from '../tensor/tensor-types';
import type { BatchCandidate } from './form-batch';

/**
 * What decides which requests can share a run: types and non-batch dimensions of every input,
 * and the outputs asked for. Rows: the first dimension, when every input has the same one. A
 * request whose inputs disagree on it, or that has a scalar input, has no key (it never shares a
 * run) and counts as one row. Bytes: of every input's elements.
 */
export function batchKey(feeds: Record<string, HostTensor>, outputNames: readonly string[]): BatchCandidate {
  const tensors = Object.entries(feeds);
  let bytes = 0;
  for (const [, t] of tensors) {
    if (Array.isArray(t.data)) for (const s of t.data) bytes += s.length;
    else bytes += t.data.byteLength;
  }
  const rows = tensors[0]?.[1].dims[0];
  if (rows === undefined || tensors.some(([, t]) => t.dims[0] !== rows)) return { key: undefined, rows: 1, bytes };
  const parts = tensors.map(([name, t]) => `${name}:${t.type}[${t.dims.slice(1).join(',')}]`);
  return { key: `${parts.join(';')}->${outputNames.join(',')}`, rows, bytes };
}
