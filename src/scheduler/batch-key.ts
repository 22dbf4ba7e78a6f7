import type { HostTensor } from '../tensor/tensor-types';
import type { BatchCandidate } from './form-batch';

/**
 * What decides which requests can share a run: types and non-batch dimensions of every input,
 * and the outputs asked for. Rows: the first dimension, when every input has the same one. A
 * request whose inputs disagree on it, or that has a scalar input, has no key (it never shares a
 * run) and counts as one row. Bytes: of every input's elements.
 */
export function batchKey(feeds: Record<string, HostTensor>, outputNames: readonly string[]): BatchCandidate {
  // One pass, building the key as it goes: this runs for every request.
  let bytes = 0;
  let rows: number | undefined;
  let sameRows = true;
  let key = '';
  for (const name in feeds) {
    const t = feeds[name]!;
    if (Array.isArray(t.data)) for (const s of t.data) bytes += s.length;
    else bytes += t.data.byteLength;
    const first = t.dims[0];
    if (key === '') rows = first;
    else key += ';';
    if (first === undefined || first !== rows) sameRows = false;
    key += `${name}:${t.type}[`;
    for (let i = 1; i < t.dims.length; i++) key += i === 1 ? `${t.dims[i]}` : `,${t.dims[i]}`;
    key += ']';
  }
  if (rows === undefined || !sameRows) return { key: undefined, rows: 1, bytes };
  return { key: `${key}->${outputNames.join(',')}`, rows, bytes };
}
