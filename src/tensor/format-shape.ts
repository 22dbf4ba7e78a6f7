/** Dimensions a message shows before it elides the rest (a shape of any rank may come in a request). */
const SHOWN_DIMS = 8;

/** A shape as messages show it: `[-1,16]`; past 8 dimensions, `[1,1,1,1,1,1,1,1,...] (rank 1000)`. */
export function formatShape(dims: readonly (number | bigint)[]): string {
  if (dims.length <= SHOWN_DIMS) return `[${dims.join(',')}]`;
  return `[${dims.slice(0, SHOWN_DIMS).join(',')},...] (rank ${dims.length})`;
}
